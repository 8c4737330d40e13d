"""A run written and updated by the prepared statements reads back exactly as the ORM would have written it."""

import pytest

from providers.models import PlaygroundRun, RunStatus

pytestmark = pytest.mark.django_db


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
