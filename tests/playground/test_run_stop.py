"""The Stop route: a run cut to the characters the page showed, only for its owner, and never lengthened."""

import pytest

from providers.models import PlaygroundRun, RunStatus
from tests.conftest import create_model, make_user

pytestmark = pytest.mark.django_db


def _run(user, output, status=RunStatus.STOPPED):
    model = create_model(display_name="m", endpoint_type="hosted_api", task="text-generation", repo_id="a/b")
    return PlaygroundRun.objects.create(
        user=user,
        model=model,
        model_name="m",
        mode="completion",
        prompt="p",
        output=output,
        status=status,
        generated_tokens=7,
        tokens_per_second=3.5,
        finish_reason="length",
    )


def test_stop_keeps_the_characters_shown_and_drops_the_counts_of_the_longer_text(client):
    user = make_user("mia", "Member")
    client.force_login(user)
    run = _run(user, "t1 t2 t3 t4 t5 t6 t7 日本")
    response = client.post(f"/playground/runs/{run.pk}/stop/", {"shown": "14"})
    assert response.status_code == 200 and response.json()["output"] == "t1 t2 t3 t4 t5"
    run.refresh_from_db()
    assert (run.output, run.status, run.generated_tokens, run.tokens_per_second) == (
        "t1 t2 t3 t4 t5",
        RunStatus.STOPPED,
        None,
        None,
    )


def test_a_run_completed_before_the_stop_reached_it_keeps_what_was_shown_as_stopped(client):
    user = make_user("mia", "Member")
    client.force_login(user)
    run = _run(user, "whole answer", status=RunStatus.OK)
    client.post(f"/playground/runs/{run.pk}/stop/", {"shown": "5"})
    run.refresh_from_db()
    assert (run.output, run.status) == ("whole", RunStatus.STOPPED)


def test_stop_never_lengthens_and_refuses_a_length_that_is_not_a_number(client):
    user = make_user("mia", "Member")
    client.force_login(user)
    run = _run(user, "short")
    assert client.post(f"/playground/runs/{run.pk}/stop/", {"shown": "99"}).json()["output"] == "short"
    for bad in ("", "-1", "١٢", "1e3", "9" * 20):
        assert client.post(f"/playground/runs/{run.pk}/stop/", {"shown": bad}).status_code == 400


def test_nobody_stops_another_persons_run(client):
    run = _run(make_user("mia", "Member"), "t1 t2 t3")
    client.force_login(make_user("max", "Member"))
    assert client.post(f"/playground/runs/{run.pk}/stop/", {"shown": "0"}).status_code == 404
    run.refresh_from_db()
    assert run.output == "t1 t2 t3"
