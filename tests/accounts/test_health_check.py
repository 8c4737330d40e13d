"""/healthz answers within its bound whatever is down: 503 naming the database or the shared cache, 200 when both
serve."""

import time

import pytest
from django.core.cache import caches
from django.db import DatabaseError


@pytest.mark.django_db
def test_healthz_says_ok_when_both_stores_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok\n"


@pytest.mark.django_db
def test_healthz_answers_503_within_its_bound_when_the_database_hangs(client, monkeypatch, settings):
    from django.db.backends.utils import CursorWrapper

    def hanging(self, sql, params=None):
        time.sleep(5)  # a pool waiting for a connection, or a server that stopped answering
        raise DatabaseError("timed out")

    monkeypatch.setattr(CursorWrapper, "execute", hanging)
    settings.HEALTHZ_TIMEOUT = 0.5
    started = time.monotonic()
    response = client.get("/healthz")
    assert time.monotonic() - started < 1.0
    assert response.status_code == 503 and response["Retry-After"]
    assert response.content == b"database unreachable\n"


@pytest.mark.django_db
def test_healthz_answers_503_when_the_shared_cache_cannot_serve(client, monkeypatch):
    def refused(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(type(caches["default"]), "set", refused)  # every thread's instance of the backend
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.content == b"cache unreachable\n"
