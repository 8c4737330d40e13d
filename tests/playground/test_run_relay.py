"""The playground's relay: the run is written while the upstream works, and tokens leave in as few writes as came."""

import json

import pytest
from django.db import connection
from django.urls import reverse

from providers.models import PlaygroundRun, RunStatus
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db


class SeesTheUpstreamRequest:
    """Notes, when the run's INSERT executes, whether the upstream has the generation request already."""

    def __init__(self, hf):
        self.hf = hf
        self.seen = []

    def __call__(self, execute, sql, params, many, context):
        if sql.startswith("INSERT") and "providers_playgroundrun" in sql:
            self.seen.append(wait_for(lambda: any(r["method"] == "POST" for r in self.hf.requests), 1))
        return execute(sql, params, many, context)


@pytest.mark.parametrize("stream", [True, False])
def test_the_run_is_written_while_the_upstream_works_on_the_request(hf, member_client, endpoint_model, stream):
    hf.response_delay = 0.2
    spy = SeesTheUpstreamRequest(hf)
    data = {"model": endpoint_model.pk, "prompt": "Why is the sky blue", "max_new_tokens": "4"}
    if stream:
        data["stream"] = "on"
    with connection.execute_wrapper(spy):
        response = member_client.post(reverse("playground_run"), data)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert spy.seen == [True]
    assert b'"done"' in body
    run = PlaygroundRun.objects.get()
    assert run.status == RunStatus.OK and run.output


def test_a_run_whose_write_fails_closes_the_request_it_already_sent(faulty, member_client):
    from tests.playground.test_run_truth import FailingWrites, model_at

    model = model_at(faulty, "silent_start")
    with connection.execute_wrapper(FailingWrites(1, statement="INSERT")):
        response = member_client.post(reverse("playground_run"), {"model": model.pk, "prompt": "hi"})
    assert response.status_code == 503
    # It had left before the write: the emulator counts it once it has read the request, a moment later maybe.
    assert wait_for(lambda: len(faulty.opened("silent_start")) == 1, 1), faulty.connections
    assert wait_for(lambda: len(faulty.closed("silent_start")) == 1, 1), faulty.connections


def test_the_run_route_goes_through_the_short_chain_with_its_checks(hf, member_user, endpoint_model, settings):
    from django.test import Client

    from providers.playground.middleware import SKIPPED, LeanRoutesMiddleware

    lean = LeanRoutesMiddleware(lambda request: None).lean
    chain = {type(m.__self__).__name__ for m in lean._view_middleware}
    assert chain == {"CsrfViewMiddleware"}  # the CSRF check still runs before the view
    assert SKIPPED & set(settings.MIDDLEWARE)  # it skips some of the configured ones, or it is pointless

    browser = Client(enforce_csrf_checks=True)
    data = {"model": endpoint_model.pk, "prompt": "hi", "max_new_tokens": "2"}
    assert browser.post(reverse("playground_run"), data).status_code in (302, 403)  # not signed in
    browser.force_login(member_user)
    assert browser.post(reverse("playground_run"), data).status_code == 403  # no CSRF token
    browser.get(reverse("playground"))
    token = browser.cookies["csrftoken"].value
    response = browser.post(reverse("playground_run"), data, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and b'"done"' in response.content
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(response.content))
    assert response["Content-Language"] == "en" and response["Cache-Control"] == "no-store"
    settings.ALLOWED_HOSTS = ["testserver"]
    refused = browser.post(reverse("playground_run"), data, HTTP_X_CSRFTOKEN=token, HTTP_HOST="evil.test")
    assert refused.status_code == 400


def test_tokens_that_came_in_one_read_leave_in_one_write(faulty, member_client):
    from tests.playground.test_run_truth import model_at, post_run

    response = post_run(member_client, model_at(faulty, "burst"))
    chunks = list(response.streaming_content)
    lines = [json.loads(line) for chunk in chunks for line in chunk.decode().splitlines()]
    assert [e["type"] for e in lines] == ["start"] + ["token"] * 6 + ["done"]
    assert "".join(e["text"] for e in lines if e["type"] == "token") == "The sky is blue because molecules"
    assert len(chunks) <= 3  # start, then the six tokens with the end at once, not one write per token


def test_the_first_token_leaves_with_the_start_line(hf, member_client, endpoint_model):
    from tests.playground.test_run_truth import post_run

    hf.token_delay = 0.05  # one token per read: only the start line and the first token can share a write
    chunks = list(post_run(member_client, endpoint_model).streaming_content)
    first = [json.loads(line)["type"] for line in chunks[0].decode().splitlines()]
    assert first == ["start", "token"]
    assert all(len(chunk.decode().splitlines()) == 1 for chunk in chunks[1:])
