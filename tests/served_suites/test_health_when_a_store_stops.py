"""A served console's /healthz follows its stores: 503 within a second when PostgreSQL or Redis stops, 200 again
soon after each comes back."""

import time

import requests

from tests.conftest import wait_for
from tests.served import Console
from tests.stores import Postgres, Redis


def _health(console):
    started = time.monotonic()
    response = requests.get(console.url + "/healthz", timeout=10)
    return response.status_code, response.text, time.monotonic() - started


def test_healthz_follows_postgresql_and_redis_going_and_coming_back(emulator, tmp_path):
    postgres, redis = Postgres(), Redis(tmp_path).start()
    console = None
    try:
        env = {"DATABASE_URL": postgres.url, "CACHE_URL": redis.url, "WEB_WORKERS": "1"}
        console = Console(emulator, tmp_path, "", env=env).start()
        assert _health(console)[:2] == (200, "ok\n")

        redis.stop()
        status, text, seconds = _health(console)
        assert (status, text) == (503, "cache unreachable\n") and seconds < 1.5
        redis.start()
        assert wait_for(lambda: _health(console)[0] == 200, 3)

        postgres.stop()
        status, text, seconds = _health(console)
        assert (status, text) == (503, "database unreachable\n") and seconds < 1.5
        status, _text, seconds = _health(console)  # the pool's broken connections do not slow the next answer
        assert status == 503 and seconds < 1.5
        postgres.start()
        assert wait_for(lambda: _health(console)[0] == 200, 3)
    finally:
        if console:
            console.stop()
        redis.stop()
        postgres.remove()
