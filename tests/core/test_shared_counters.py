"""Each store of `core.quotas` (files, Redis, PostgreSQL when the suite runs on it) counts rates and slots exactly,
admits exactly the limit from a burst, and frees a slot whose holder died: at once for a file, after its lease
for a shared store, whose lease its living holder keeps renewed."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis as redis_client
from django.db import connection, connections
from redis.backoff import NoBackoff
from redis.retry import Retry

from providers.core import quota_stores, quotas
from tests.conftest import wait_for
from tests.stores import Redis

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)  # threads and processes see each other's writes


def _redis_key(kind, name):
    return f"test:{kind}:{name}"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = Redis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(params=["files", "redis", "postgresql"])
def kind(request, settings, tmp_path):
    settings.API_LIMITS_DIR = tmp_path / "limits"
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        client = redis_client.Redis.from_url(server.url)
        client.flushdb()
        quotas.use(quota_stores.RedisStore(client, _redis_key))
    elif request.param == "postgresql":
        if connection.vendor != "postgresql":
            pytest.skip("the PostgreSQL store is tested when the suite runs on PostgreSQL")
        quotas.use(quota_stores.SqlStore())
    else:
        quotas.use(quota_stores.FileStore())
    yield request.param
    quotas.use(None)


def refused(counters):
    with pytest.raises(quotas.Limited) as caught:
        quotas.take_rate(counters)
    return caught.value


def test_a_rate_admits_its_minute_at_once_then_says_the_exact_wait(kind):
    for _ in range(3):
        quotas.take_rate([("a", 3)])
    limited = refused([("a", 3)])
    assert limited.code == "rate_limit_exceeded" and limited.retry_after == 20  # one event every 60/3 s


def test_an_admitted_event_says_the_tightest_counters_headroom(kind):
    limit, left, reset = quotas.take_rate([("key", 6), ("owner", 3)])
    assert (limit, left) == (3, 2) and reset == pytest.approx(20, abs=0.5)  # the owner's: one back every 20 s
    limit, left, reset = quotas.take_rate([("key", 6), ("owner", 3)])
    assert (limit, left) == (3, 1) and reset == pytest.approx(40, abs=0.5)
    assert quotas.take_rate([("other", 0)]) is None  # no limit: nothing to say


def test_a_refused_event_counts_against_none_of_its_counters(kind):
    quotas.take_rate([("key", 3), ("owner", 1)])
    refused([("key", 3), ("owner", 1)])  # the owner's counter is full: the key's must not move either
    quotas.take_rate([("key", 3)])
    quotas.take_rate([("key", 3)])
    refused([("key", 3)])


def test_a_rate_of_zero_is_no_limit(kind):
    for _ in range(5):
        quotas.take_rate([("free", 0)])


def _at_once(count, work):
    """Run `work()` in `count` threads released together; the results (True or the exception's class)."""
    start, results = threading.Barrier(count), []

    def one():
        connection.ensure_connection()  # connected before the start, so that the calls themselves meet
        start.wait()
        try:
            results.append(work())
        except Exception as exc:
            results.append(type(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_a_burst_admits_exactly_the_rate(kind):
    results = _at_once(20, lambda: quotas.take_rate([("burst", 10)]) is not None)
    assert results.count(True) == 10 and results.count(quotas.Limited) == 10


def test_a_burst_takes_exactly_the_slots_there_are(kind):
    results = _at_once(12, lambda: quotas.take_slot("streams", 3))
    held = [r for r in results if isinstance(r, quotas.Slot)]
    assert len(held) == 3 and results.count(quotas.Limited) == 9
    for slot in held:
        slot.release()
    again = [quotas.take_slot("streams", 3) for _ in range(3)]
    with pytest.raises(quotas.Limited) as caught:
        quotas.take_slot("streams", 3)
    assert caught.value.code == "too_many_streams" and caught.value.retry_after == 1
    for slot in again:
        slot.release()


def test_forgetting_a_name_drops_its_counters(kind):
    quotas.take_rate([("revoked", 1)])
    refused([("revoked", 1)])
    quotas.forget("revoked")
    quotas.take_rate([("revoked", 1)])


HOLDER = """
import sys, time
import django
django.setup()
import redis
from django.conf import settings
from providers.core import quota_stores, quotas
kind = sys.argv[1]
if kind == "redis":
    quotas.use(quota_stores.RedisStore(redis.Redis.from_url(sys.argv[2]), lambda k, n: f"test:{k}:{n}"))
elif kind == "files":
    settings.API_LIMITS_DIR = sys.argv[2]
    quotas.use(quota_stores.FileStore())
else:
    quotas.use(quota_stores.SqlStore())
quotas.take_slot("held", 1)
print("held", flush=True)
time.sleep(120)
"""


def _database_url():
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _free():
    try:
        quotas.take_slot("held", 1).release()
    except quotas.Limited:
        return False
    return True


def test_a_slot_is_held_while_its_holder_lives_and_freed_when_it_dies(kind, settings, request):
    """A process holds a slot with a one-second lease, renewing it, then is killed -9 without releasing it."""
    settings.STREAM_SLOT_LEASE_SECONDS = 1.0
    argument = {
        "redis": lambda: request.getfixturevalue("redis_server").url,
        "files": lambda: str(settings.API_LIMITS_DIR),
    }.get(kind, lambda: "")()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "STREAM_SLOT_LEASE_SECONDS": "1",
    }
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, kind, argument], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        time.sleep(2.5)  # more than two leases: only its renewals keep it
        assert not _free()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        started = time.monotonic()
        assert wait_for(_free, 3)
        freed_after = time.monotonic() - started
        assert freed_after < (0.5 if kind == "files" else 1.5), freed_after
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_store_out_of_reach_counts_nothing_and_says_so():
    client = redis_client.Redis(port=9, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    quotas.use(quota_stores.RedisStore(client, _redis_key))
    try:
        with pytest.raises(quotas.Unavailable):
            quotas.take_rate([("gone", 10)])
        with pytest.raises(quotas.Unavailable):
            quotas.take_slot("gone", 1)
        quotas.Slot(quotas.store(), "gone", "token").release()  # never raises: the lease runs out instead
        quotas.forget("gone")
    finally:
        quotas.use(None)
