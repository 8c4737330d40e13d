"""A database busy with another writer: a run waits out a short write lock, a longer one is a 503 with words."""

import sqlite3
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from providers.models import PlaygroundRun

pytestmark = pytest.mark.django_db


sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="'database is locked' is SQLite's; PostgreSQL locks rows, not the file"
)


def hold_write_lock(seconds):
    """Another process's writer (an admin's import, say) holding SQLite's write lock for `seconds`."""
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=30, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return release_after(other, seconds)


def release_after(other, seconds):
    """Roll back and close the other session's connection `seconds` from now; the event is set once it has."""
    released = threading.Event()

    def release():
        time.sleep(seconds)
        other.rollback()
        other.close()
        released.set()

    threading.Thread(target=release, daemon=True).start()
    return released


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
