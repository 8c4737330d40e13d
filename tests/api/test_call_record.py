"""A call's record, written by one prepared INSERT instead of a model save: every field reads back as saved."""

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
