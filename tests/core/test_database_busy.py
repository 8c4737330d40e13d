"""A database busy with another writer: a run waits out a short write lock, a longer one is a 503 with words."""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from providers.models import PlaygroundRun
from tests.held_locks import hold_write_lock

pytestmark = pytest.mark.django_db


sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="'database is locked' is SQLite's; PostgreSQL locks rows, not the file"
)


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_members_run_waits_out_a_short_write_lock(hf, member_client, hosted_model):
    released = hold_write_lock(1.0)
    response = member_client.post(
        reverse("playground_run"), {"model": hosted_model.pk, "prompt": "Why", "max_new_tokens": "4"}
    )
    assert response.status_code == 200
    assert released.is_set()
    assert PlaygroundRun.objects.count() == 1


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_write_lock_longer_than_the_busy_timeout_is_a_503_with_a_message(hf, member_user, hosted_model):
    member_client = Client(raise_request_exception=False)  # as in production: the handler answers, not the test
    member_client.force_login(member_user)
    released = hold_write_lock(6.5)
    response = member_client.post(
        reverse("playground_run"),
        {"model": hosted_model.pk, "prompt": "Why", "max_new_tokens": "4"},
        HTTP_ACCEPT="application/x-ndjson",
    )
    released.wait(10)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "busy" in response.json()["errors"]["__all__"][0]["message"]
