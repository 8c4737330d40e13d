"""Whether this instance can serve: the database and the shared cache each answer within a bound.

A balancer polls /healthz every few seconds and acts on its own timeout, so the answer must come within that
bound whatever is down: each store is asked in a helper (a greenlet under gevent) and one that has not answered
in time counts as down, while its helper finishes on its own (a pool's wait or a dead server's connect).
"""

import threading
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection


def _database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # this helper's own connection (back to the pool, where there is one)


def _shared_cache():
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, 1, 10)
    if cache.get(key) != 1:
        raise RuntimeError("the cache did not keep a value")
    cache.delete(key)


STORES = {"database": _database, "cache": _shared_cache}


def unavailable(timeout=None):
    """The names of the stores that did not answer within `timeout` seconds (HEALTHZ_TIMEOUT by default)."""
    timeout = settings.HEALTHZ_TIMEOUT if timeout is None else timeout
    failed, done = {}, {}

    def ask(name, probe):
        try:
            probe()
        except Exception:  # any failure of a store, whatever its driver raises
            failed[name] = True
        finally:
            done[name].set()

    for name, probe in STORES.items():
        done[name] = threading.Event()
        threading.Thread(target=ask, args=(name, probe), name=f"healthz-{name}", daemon=True).start()
    until = time.monotonic() + timeout
    for event in done.values():
        event.wait(max(until - time.monotonic(), 0))
    return [name for name in STORES if failed.get(name) or not done[name].is_set()]
