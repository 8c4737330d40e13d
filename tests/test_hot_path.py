"""What the hot paths leave out of the caller's wait: the run's write overlaps the upstream's work, a whole /v1/
answer goes out in one framed body, and a request sent at once can still be taken back before it is read."""

import json

import pytest
from django.db import connection
from django.urls import reverse

from providers.huggingface.generation import Target, generate
from providers.models import HFModel, PlaygroundRun, RunStatus
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
    from tests.test_run_truth import FailingWrites, model_at

    model = model_at(faulty, "silent_start")
    with connection.execute_wrapper(FailingWrites(1, statement="INSERT")):
        response = member_client.post(reverse("playground_run"), {"model": model.pk, "prompt": "hi"})
    assert response.status_code == 503
    # It had left before the write: the emulator counts it once it has read the request, a moment later maybe.
    assert wait_for(lambda: len(faulty.opened("silent_start")) == 1, 1), faulty.connections
    assert wait_for(lambda: len(faulty.closed("silent_start")) == 1, 1), faulty.connections


def test_a_generation_closed_before_its_first_item_frees_the_upstream(faulty):
    target = Target("inference_endpoint", "text-generation", endpoint_url=f"{faulty.base}/silent_start")
    generation = generate(target, {}, prompt="hi", stream=True)
    assert wait_for(lambda: len(faulty.opened("silent_start")) == 1, 1)  # sent at once, not at the first next()
    generation.close()
    assert wait_for(lambda: len(faulty.closed("silent_start")) == 1, 1), faulty.connections


def test_a_whole_api_answer_has_its_length_and_no_chunks(hf, member_user, chat_model):
    from django.test import Client

    from providers.api import keys

    member_key = keys.create(member_user, "script")[1]
    response = Client().post(
        "/v1/chat/completions",
        {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {member_key}",
    )
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(response.content))


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


def test_a_run_written_by_the_prepared_statements_reads_back_as_the_orm_wrote_it(member_user, endpoint_model):
    import uuid

    from providers.core import db

    conversation = uuid.uuid4()
    run = PlaygroundRun(
        user=member_user,
        model=endpoint_model,
        model_name="tgi",
        mode="chat",
        messages=[{"role": "user", "content": "héllo \u4f60\u597d"}],
        parameters={"max_new_tokens": 4, "temperature": 0.5},
        conversation=conversation,
    )
    db.insert(run)
    assert run.pk and not run._state.adding
    saved = PlaygroundRun.objects.get(pk=run.pk)
    assert saved.messages == run.messages and saved.parameters == run.parameters
    assert saved.conversation == conversation and saved.created_at == run.created_at
    assert saved.status == RunStatus.RUNNING and saved.user_id == member_user.pk

    run.status, run.output, run.latency_ms, run.generated_tokens = RunStatus.OK, "The sky", 12.5, 2
    assert db.update(run, ["status", "output", "latency_ms", "generated_tokens"]) == 1
    saved.refresh_from_db()
    assert (saved.status, saved.output, saved.latency_ms, saved.generated_tokens) == (RunStatus.OK, "The sky", 12.5, 2)
    second = PlaygroundRun(user=member_user, model_name="tgi")
    db.insert(second)
    assert second.pk > run.pk

    PlaygroundRun.objects.filter(pk=run.pk).delete()  # deleted from history while it ran
    assert db.update(run, ["status"]) == 0


POSTS = [
    {"prompt": "Why is the sky blue", "max_new_tokens": "8", "temperature": "0.7", "stream": "on"},
    {"prompt": ""},
    {"prompt": "x", "temperature": "-1", "top_k": "0", "top_p": "1.5", "max_new_tokens": "0"},
    {"prompt": "x", "max_new_tokens": "not a number", "seed": "-3", "repetition_penalty": "1e400"},
    {"prompt": "x", "stop_sequences": "a\nb\nc\nd\ne"},
    {"prompt": "nul \x00 here"},
    {"prompt": "", "messages": '[{"role": "user", "content": "hi"}]', "system": "Be brief."},
    {"prompt": "again", "messages": '[{"role": "robot", "content": 1}]'},
    {"prompt": "x", "messages": "[" * 5000 + "]" * 5000},
    {"prompt": "x", "conversation": "not-a-uuid", "do_sample": "on", "return_full_text": "on"},
]


@pytest.mark.parametrize("model_field", ["text", "chat", "", "abc", "999", " 1 "])
@pytest.mark.parametrize("post", POSTS)
def test_a_posted_run_is_checked_exactly_as_the_page_form_checks_it(endpoint_model, chat_model, model_field, post):
    from django.http import QueryDict

    from providers.playground.forms import PlaygroundForm, PostedRunForm

    lookup = {endpoint_model.pk: endpoint_model, chat_model.pk: chat_model}
    model = {"text": str(endpoint_model.pk), "chat": str(chat_model.pk)}.get(model_field, model_field)
    data = QueryDict(mutable=True)
    data.update({**post, "model": model})
    page, posted = PlaygroundForm(data, models=HFModel.objects.filter(pk__in=lookup)), PostedRunForm(data, lookup)
    assert posted.is_valid() == page.is_valid()
    assert posted.errors.get_json_data() == page.errors.get_json_data()
    if page.is_valid():
        assert posted.cleaned_data == page.cleaned_data
        assert posted.parameters() == page.parameters()
        if page.cleaned_data["model"].is_chat:
            assert posted.chat_messages() == page.chat_messages()


def test_tokens_that_came_in_one_read_leave_in_one_write(faulty, member_client):
    from tests.test_run_truth import model_at, post_run

    response = post_run(member_client, model_at(faulty, "burst"))
    chunks = list(response.streaming_content)
    lines = [json.loads(line) for chunk in chunks for line in chunk.decode().splitlines()]
    assert [e["type"] for e in lines] == ["start"] + ["token"] * 6 + ["done"]
    assert "".join(e["text"] for e in lines if e["type"] == "token") == "The sky is blue because molecules"
    assert len(chunks) <= 3  # start, then the six tokens with the end at once, not one write per token


def test_api_events_that_came_in_one_read_leave_in_one_write(faulty, member_user):
    from django.test import Client

    from providers.api import keys
    from tests.test_run_truth import model_at

    model = model_at(faulty, "burst")
    key = keys.create(member_user, "script")[1]
    response = Client().post(
        "/v1/completions",
        {"model": model.api_id, "prompt": "hi", "stream": True},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    chunks = list(response.streaming_content)
    body = b"".join(chunks).decode()
    texts = [json.loads(part[6:])["choices"][0]["text"] for part in body.split("\n\n") if part.startswith("data: {")]
    assert "".join(texts) == "The sky is blue because molecules" and body.endswith("data: [DONE]\n\n")
    assert len(chunks) <= 3, chunks


def test_the_first_token_leaves_with_the_start_line(hf, member_client, endpoint_model):
    from tests.test_run_truth import post_run

    hf.token_delay = 0.05  # one token per read: only the start line and the first token can share a write
    chunks = list(post_run(member_client, endpoint_model).streaming_content)
    first = [json.loads(line)["type"] for line in chunks[0].decode().splitlines()]
    assert first == ["start", "token"]
    assert all(len(chunk.decode().splitlines()) == 1 for chunk in chunks[1:])


def test_the_shared_fields_answer_in_each_requests_language(endpoint_model):
    from django.http import QueryDict
    from django.utils import translation

    from providers.playground.forms import PlaygroundForm, PostedRunForm

    lookup = {endpoint_model.pk: endpoint_model}
    data = QueryDict(mutable=True)
    data.update({"model": str(endpoint_model.pk), "prompt": "", "top_k": "0", "temperature": "abc"})
    with translation.override("en"):
        english = PostedRunForm(data, lookup).errors.get_json_data()  # the shared fields are built here, or before
    with translation.override("zh-hans"):
        chinese = PostedRunForm(data, lookup).errors.get_json_data()
        assert chinese == PlaygroundForm(data, models=HFModel.objects.filter(pk__in=lookup)).errors.get_json_data()
    assert chinese != english and set(chinese) == set(english) == {"prompt", "top_k", "temperature"}
