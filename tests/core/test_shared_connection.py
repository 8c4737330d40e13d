"""On SQLite, the two statements every API call makes (the freshness read, the call's record) run on the process's
own connection under gevent (core/db.py `shared()`): a request makes no Django connection of its own for them, a
transaction still sees its own rows, and a failed statement raises Django's error classes and leaves the connection
usable.

Run in a process of its own on a database file, as a served console runs (the suite's database is in memory, and
its threads are threads, which the shared connection leaves alone)."""

import json
import textwrap

from tests.served import python

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()  # as gunicorn's gevent workers run: a thread is a greenlet

    import json, threading, time, types
    import django
    django.setup()
    from django.core.management import call_command
    from django.db import IntegrityError, connections, transaction
    from providers.api import accounting
    from providers.core import freshness
    from providers.models import APICall

    call_command("migrate", verbosity=0)

    def record(key_id=None):
        caller = types.SimpleNamespace(key_id=key_id, owner_id=None)
        call = accounting.CallRecord("chat", time.perf_counter(), caller)
        call.finish(time.perf_counter())
        return call.values()

    out = {"base": freshness.current()}
    with transaction.atomic():  # a change, committed by another connection
        freshness.bump()

    def request():  # a context of its own, as each request's greenlet is under gevent
        out["read"] = freshness.current()
        out["pk"] = accounting._insert(record())
        accounting._update(out["pk"], {**record(), "completion_tokens": 7})
        out["made"] = [c.alias for c in connections.all(initialized_only=True)]
        try:
            accounting._insert(record(key_id=999_999))  # no such key: the deferred foreign key fails at commit
        except IntegrityError:
            out["error"] = "django"
        except Exception as exc:
            out["error"] = type(exc).__module__
        out["after"] = accounting._insert(record())
        with transaction.atomic():  # inside a transaction: its own rows, seen by its own connection
            freshness.bump()
            out["in_transaction"] = freshness.current()
            out["atomic"] = connections["default"].in_atomic_block
        out["after_commit"] = freshness.current()

    worker = threading.Thread(target=request)
    worker.start()
    worker.join()
    out["tokens"] = APICall.objects.get(pk=out.pop("pk")).completion_tokens
    out["after"] = APICall.objects.filter(pk=out["after"]).exists()
    print(json.dumps(out))
    """
)


def test_api_statements_run_on_the_process_connection(tmp_path):
    done = python(SCRIPT, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["made"] == []  # the freshness read and the record's writes made no connection of the request's
    assert out["read"] == out["base"] + 1  # the change committed by another connection is seen
    assert out["tokens"] == 7 and out["after"] is True  # inserted, updated, and written again after a failure
    assert out["error"] == "django"  # Django's IntegrityError, not sqlite3's: callers catch Django's classes
    assert (
        out["in_transaction"] == out["base"] + 2 and out["atomic"] is True
    )  # a transaction reads its own uncommitted change
    assert out["after_commit"] == out["base"] + 2
