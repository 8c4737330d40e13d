"""A run's final write: numbers from the upstream are bounded before they are stored, and a write that keeps
failing keeps what the person saw and stops retrying after its bound, with one traceback."""

import logging

import pytest
from django.db import connection

from providers.huggingface import numbers
from providers.models import PlaygroundRun, RunStatus
from providers.playground import lifecycle as run_lifecycle
from tests.playground.test_run_truth import events_of, model_at, post_run

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("task", ["text-generation", "chat"])
def test_a_huge_token_count_from_the_upstream_does_not_lose_the_run(faulty, member_client, task):
    evts = events_of(post_run(member_client, model_at(faulty, "huge_count", task)))
    assert evts[-1]["type"] == "done"
    shown = "".join(e["text"] for e in evts if e["type"] == "token")
    saved = PlaygroundRun.objects.get()
    assert saved.status == RunStatus.OK and saved.output == shown and shown.startswith("The sky is")
    assert saved.generated_tokens is None or saved.generated_tokens <= numbers.LARGEST


def refuse_updates(when):
    """A trigger that makes the database refuse some updates of runs, as it refuses a value it cannot hold."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER refuse_run_update BEFORE UPDATE ON providers_playgroundrun WHEN {when} "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION refuse_run_update() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_run_update BEFORE UPDATE ON providers_playgroundrun FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION refuse_run_update()"
            )


def test_a_result_the_database_refuses_is_saved_as_what_the_person_saw(hf, member_client, endpoint_model):
    refuse_updates("NEW.latency_ms IS NOT NULL")  # the figures cannot be written; the text can
    evts = events_of(post_run(member_client, endpoint_model))
    assert evts[-1]["type"] == "done"
    saved = PlaygroundRun.objects.get()
    assert saved.status == RunStatus.OK and saved.output == "The sky is blue because molecules in the"
    assert saved.latency_ms is None


def test_a_final_write_that_keeps_failing_stops_after_its_bound_with_one_traceback(
    hf, member_client, endpoint_model, caplog, monkeypatch
):
    refuse_updates("NEW.status <> 'running'")
    with caplog.at_level(logging.WARNING, "providers"):
        events_of(post_run(member_client, endpoint_model))
        run = PlaygroundRun.objects.get()
        monkeypatch.setattr(run_lifecycle, "FINAL_RETRY_SECONDS", 0)
        run_lifecycle._retry_finals()
    with run_lifecycle._lock:
        assert all(relay.run.pk != run.pk for relay, _since in run_lifecycle._finals)
    about_run = [r for r in caplog.records if str(run.pk) in r.getMessage()]
    assert sum(1 for r in about_run if r.exc_info) == 1
    assert any("gave up saving playground run" in r.getMessage() for r in about_run)
