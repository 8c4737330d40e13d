"""Smaller hardening: unlock on the People page (audited), the lock-out page's real duration, no-store on signed-in
pages, the JSON error for an oversized playground run, a 403 as one log line, a locked database as a 503."""

import io
import logging
import sqlite3
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from providers.models import AuditEntry, PlaygroundRun
from tests.conftest import PASSWORD, create_model

pytestmark = pytest.mark.django_db


def lock_out(client, username, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": username, "password": "wrong"})
    return client.post(reverse("login"), {"username": username, "password": PASSWORD})


def test_the_lock_out_page_says_the_configured_duration(client, member_user, settings):
    settings.AXES_COOLOFF_TIME = __import__("datetime").timedelta(minutes=42)
    page = lock_out(client, "mia", settings).content.decode()
    assert "Wait 42 minutes" in page and "15 minutes" not in page


def test_an_admin_unlocks_a_locked_out_person_and_it_is_audited(admin_client, member_user, settings):
    client = Client()
    assert lock_out(client, "mia", settings).status_code == 429
    people = admin_client.get(reverse("people")).content.decode()
    row = people[people.index('data-user="mia"') :]
    row = row[: row.index("</tr>")]
    assert "locked out" in row and reverse("person_unlock", args=[member_user.pk]) in row
    admin_client.post(reverse("person_unlock", args=[member_user.pk]))
    entry = AuditEntry.objects.get(action="person.unlock")
    assert entry.target_repr == "mia" and entry.actor_name == "ada"
    signed_in = client.post(reverse("login"), {"username": "mia", "password": PASSWORD})
    assert signed_in.status_code == 302
    assert "locked out" not in admin_client.get(reverse("people")).content.decode()


def test_members_cannot_unlock(member_client, admin_user):
    assert member_client.post(reverse("person_unlock", args=[admin_user.pk])).status_code == 403
    assert not AuditEntry.objects.filter(action="person.unlock").exists()


@pytest.mark.parametrize("name", ["models_export", "audit_log", "huggingface", "provider_list", "people", "model_add"])
def test_signed_in_admin_responses_are_not_stored(admin_client, name):
    assert admin_client.get(reverse(name))["Cache-Control"] == "no-store"


def test_model_pages_are_not_stored(admin_client):
    model = create_model()
    for name in ("model_detail", "model_edit"):
        assert admin_client.get(reverse(name, args=[model.pk]))["Cache-Control"] == "no-store"


def test_an_oversized_playground_run_gets_the_json_error(member_client, hosted_model, settings):
    response = member_client.post(
        reverse("playground_run"),
        {"model": hosted_model.pk, "prompt": "x" * 3_000_000},
        HTTP_ACCEPT="application/x-ndjson",
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    message = response.json()["errors"]["__all__"][0]["message"]
    assert "too large" in message and "2.5 MB" in message
    assert not PlaygroundRun.objects.exists()


def stdout_log(fn):
    """What the console's stdout log handler writes while fn runs."""
    handler = logging.getLogger("django").handlers[0]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        fn()
    finally:
        handler.setStream(previous)
    return buffer.getvalue()


def test_a_403_is_one_log_line(member_client):
    out = stdout_log(lambda: member_client.get(reverse("audit_log")))
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and "Forbidden" in lines[0] and "/settings/audit/" in lines[0]
    assert "Traceback" not in out


def test_a_403_for_a_script_is_json(member_client):
    response = member_client.post(reverse("model_test_form"), HTTP_ACCEPT="application/json")
    assert response.status_code == 403 and "errors" in response.json()


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


def hold_model_table_lock(seconds):
    """Another session holding the models table against writers (plain reads still go through)."""
    if connection.vendor == "sqlite":
        return hold_write_lock(seconds)
    import psycopg

    params = connection.get_connection_params()
    other = psycopg.connect(**{k: v for k, v in params.items() if k not in ("cursor_factory", "context")})
    other.execute("LOCK TABLE providers_hfmodel IN EXCLUSIVE MODE")
    return release_after(other, seconds)


@pytest.mark.django_db(transaction=True)
def test_an_import_is_validated_before_it_takes_the_write_lock(admin_client):
    released = hold_model_table_lock(3.0)
    upload = io.BytesIO(b'{"format": "hf-model-console/models", "models": [{"display_name": 5}]}')
    upload.name = "m.json"
    started = time.monotonic()
    response = admin_client.post(reverse("models_import"), {"file": upload})
    assert time.monotonic() - started < 2.0  # answered while the lock was still held
    assert not released.is_set()
    assert "must be a text" in " ".join(response.context["errors"])
    released.wait(5)
