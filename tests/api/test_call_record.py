"""A call's record: written by one prepared INSERT, every field reads back as saved; old records are pruned."""

from datetime import timedelta

import pytest
from django.utils import timezone

from providers.api import keys
from providers.api.accounting import CallRecord, usage_by
from providers.models import APICall

pytestmark = pytest.mark.django_db


def test_every_field_reads_back(member_user, chat_model):
    key = keys.create(member_user, "script")[0]
    caller = type("C", (), {"key_id": key.pk, "owner_id": member_user.pk})()
    entry = type("E", (), {"pk": chat_model.pk, "display_name": "llama chat"})()
    record = CallRecord("chat", 0.0, caller)
    record.entry, record.stream, record.status, record.category = entry, True, 502, "connection_lost"
    record.prompt_tokens, record.completion_tokens, record.latency_ms, record.ttft_ms = 7, 3, 12.5, 4.25
    before = timezone.now()
    record.save()
    record.save()  # once only
    row = APICall.objects.get()
    assert (row.key_id, row.user_id, row.model_id, row.model_name) == (
        key.pk,
        member_user.pk,
        chat_model.pk,
        "llama chat",
    )
    assert (row.route, row.stream, row.status, row.category) == ("chat", True, 502, "connection_lost")
    assert (row.prompt_tokens, row.completion_tokens, row.latency_ms, row.ttft_ms) == (7, 3, 12.5, 4.25)
    assert before - timedelta(seconds=1) <= row.created_at <= timezone.now() and row.created_at.tzinfo is not None
    assert usage_by("key_id")[key.pk]["calls"] == 1 and usage_by("key_id")[key.pk]["failures"] == 1
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_record_without_model_or_counts(member_user):
    key = keys.create(member_user, "script")[0]
    caller = type("C", (), {"key_id": key.pk, "owner_id": member_user.pk})()
    CallRecord("models", 0.0, caller).save()
    row = APICall.objects.get()
    assert row.model_id is None and row.model_name == "" and row.prompt_tokens is None and row.stream is False


def test_prune_api_calls_deletes_records_older_than_the_retention(member_user, settings):
    import io
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from providers.management.commands import prune_api_calls
    from providers.models import APICall

    key = keys.create(member_user, "k")[0]
    for age in (1, 89, 91, 400):
        call = APICall.objects.create(key=key, user=member_user, route="chat", status=200)
        APICall.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(days=age))
    settings.API_CALL_RETENTION_DAYS = 90
    out = io.StringIO()
    call_command("prune_api_calls", stdout=out)
    assert "Deleted 2" in out.getvalue() and APICall.objects.count() == 2
    assert prune_api_calls.prune(30, batch=1) == 1 and APICall.objects.count() == 1
    settings.API_CALL_RETENTION_DAYS = 0
    call_command("prune_api_calls", stdout=io.StringIO())
    assert APICall.objects.count() == 1
