"""The record of each API call, written once its answer is out (and early while a long one is in flight, so that a
crash leaves it to be swept as interrupted), and usage summed per user, model and key."""

import logging
import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from providers.api import keys
from providers.core import db, leases
from providers.models import APICall, Lease

log = logging.getLogger(__name__)


class CallRecord:
    """What one call did; `save()` runs from the response's close(), after the last byte was handed over.

    A call that reaches its upstream is tracked while in flight: past one checkpoint interval the process's loop
    writes its row early (naming the process, with the tokens sent so far), so that a crash leaves a row the
    sweeps end as interrupted; a final write that fails (the database down, the disk full) is retried."""

    def __init__(self, route, started, caller=None):
        self.route = route
        self.started = started
        self.caller = caller
        self.entry = None
        self.stream = False
        self.status = 200
        self.category = ""
        self.prompt_tokens = None
        self.completion_tokens = None
        self.latency_ms = None
        self.ttft_ms = None
        self.saved = False
        self.pk = None  # the row, once written (early, while in flight, or final)
        self.sent = 0  # text chunks handed to the caller so far
        self.created_at = timezone.now()
        self.lock = threading.Lock()  # the final write and the loop's early write never both insert

    def finish(self, now):
        if self.latency_ms is None:
            self.latency_ms = round((now - self.started) * 1000, 1)

    def save(self):
        if self.saved or self.caller is None:
            return
        self.saved = True
        untrack(self)
        if not self.write_final():
            with _lock:
                _pending.append((self, time.monotonic()))
            _ensure_loop()

    def values(self):
        return {
            "key_id": self.caller.key_id,
            "user_id": self.caller.owner_id,
            "model_id": self.entry.pk if self.entry else None,
            "model_name": self.entry.display_name if self.entry else "",
            "route": self.route,
            "stream": self.stream,
            "status": self.status,
            "category": self.category,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_ms": self.latency_ms,
            "ttft_ms": self.ttft_ms,
            "created_at": self.created_at,
            "worker": "",
            "heartbeat_at": None,
        }

    def write_final(self, retry=False):
        try:
            # One statement, committed on its own: as durable as in a transaction, without its BEGIN and COMMIT.
            with self.lock:
                if self.pk is None:
                    self.pk = _insert(self.values())
                else:
                    _update(self.pk, self.values())
            keys.touch(self.caller.key_id)
            return True
        except Exception:  # the answer is already out; a failed record must not turn it into an error
            # One traceback per call, not one per retry: an outage would bury the log under them.
            log.log(logging.DEBUG if retry else logging.WARNING, "could not record an API call", exc_info=True)
            db.reset_connection()
            return False


_COLUMNS = (
    "key_id",
    "user_id",
    "model_id",
    "model_name",
    "route",
    "stream",
    "status",
    "category",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "ttft_ms",
    "created_at",
    "worker",
    "heartbeat_at",
)


def _adapted(values, ops):
    return {
        **values,
        "created_at": ops.adapt_datetimefield_value(values["created_at"]),
        "heartbeat_at": ops.adapt_datetimefield_value(values["heartbeat_at"]),
    }


def _insert(values):
    """One INSERT, its SQL built once: a model instance, save() and its signals were ~10% of a whole call's CPU
    (nothing listens to an APICall's save). Values go through the backend's own adaptation, as save() does.
    The new row's primary key."""
    shared = db.shared()  # SQLite, outside a transaction: the process's own connection (core/db.py)
    if shared is not None and shared.features.can_return_columns_from_insert:
        row = _adapted(values, shared.ops)
        sql = db.statement("insert", APICall, _COLUMNS, shared)
        return db.run_shared(shared, sql, [row[name] for name in _COLUMNS], fetch=True)[0]
    values = _adapted(values, connection.ops)
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:  # as save() does
        cursor.execute(db.statement("insert", APICall, _COLUMNS), [values[name] for name in _COLUMNS])
        if connection.features.can_return_columns_from_insert:
            return cursor.fetchone()[0]
        return connection.ops.last_insert_id(cursor, APICall._meta.db_table, APICall._meta.pk.column)


def _update(pk, values):
    shared = db.shared()
    if shared is not None:
        values = _adapted(values, shared.ops)
        sql = db.statement("update", APICall, _COLUMNS, shared)
        db.run_shared(shared, sql, [*(values[name] for name in _COLUMNS), pk])
        return
    values = _adapted(values, connection.ops)
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(db.statement("update", APICall, _COLUMNS), [*(values[name] for name in _COLUMNS), pk])


# --- calls in flight in this process, and the sweeps ----------------------------------------------------------

_lock = threading.Lock()
_flying = {}  # id(record) -> CallRecord
_pending = []  # (record, first failure time) whose final write failed
_loop = {"pid": None}
FINAL_RETRY_SECONDS = 600


def track(record):
    """The call is about to go upstream: from the next checkpoint on, it is in the database while in flight."""
    with _lock:
        _flying[id(record)] = record
    _ensure_loop()


def untrack(record):
    with _lock:
        _flying.pop(id(record), None)


def _ensure_loop():
    with _lock:
        first = _loop["pid"] != os.getpid()  # threads do not survive a fork
        _loop["pid"] = os.getpid()
    if first:
        threading.Thread(target=_background, name="call-checkpoints", daemon=True).start()


def checkpoint():
    """One batch for the process: the calls in flight for a checkpoint interval or more are written (or their
    tokens sent so far and heartbeat updated), naming this process."""
    now = timezone.now()
    old_enough = now - timedelta(seconds=settings.RUN_CHECKPOINT_SECONDS)
    with _lock:
        flying = [r for r in _flying.values() if r.created_at <= old_enough]
    held = [r for r in flying if r.lock.acquire(blocking=False)]  # one busy with its final write waits its turn
    inserted = []
    try:
        with transaction.atomic():
            for record in held:
                if record.saved:
                    continue
                values = {
                    **record.values(),
                    "completion_tokens": record.sent,
                    "worker": leases.lease_id(),
                    "heartbeat_at": now,
                }
                if record.pk is None:
                    record.pk = _insert(values)
                    inserted.append(record)
                else:
                    _update(record.pk, values)
    except DatabaseError:
        # Once per outage with its traceback; every checkpoint would otherwise log one while the database is down.
        level = logging.DEBUG if _loop.get("failing") else logging.WARNING
        log.log(level, "could not save %s API calls in flight; will retry", len(held), exc_info=True)
        _loop["failing"] = True
        for record in inserted:  # rolled back with the batch
            record.pk = None
        db.reset_connection()
    else:
        _loop["failing"] = False
    finally:
        for record in held:
            record.lock.release()


def _retry_pending():
    with _lock:
        pending, _pending[:] = list(_pending), []
    for record, since in pending:
        if record.write_final(retry=True):
            log.info("API call recorded after an earlier failure")
        elif time.monotonic() - since < FINAL_RETRY_SECONDS:
            with _lock:
                _pending.append((record, since))
        else:
            log.error("gave up recording an API call; the stale-call sweep will mark it interrupted")


def _interrupt(calls):
    """End the calls in flight among `calls` as interrupted, keeping what they had sent; a whole answer that
    had not been sent reached its caller as a cut connection."""
    calls = calls.exclude(worker="")
    whole = calls.filter(stream=False).update(category="run_interrupted", status=502, worker="", heartbeat_at=None)
    return whole + calls.update(category="run_interrupted", worker="", heartbeat_at=None)


def sweep_worker(lease_id):
    """gunicorn's master: a worker exited, so the calls it still served can no longer be recorded by it."""
    return _interrupt(APICall.objects.filter(worker=lease_id))


def sweep_instances(instances):
    """gunicorn's master at start-up: calls of the servers of this machine that are gone (by their leases, before
    the runs' sweep deletes those)."""
    return _interrupt(
        APICall.objects.filter(worker__in=Lease.objects.filter(instance__in=list(instances)).values("pk"))
    )


def sweep_abandoned():
    """Calls whose process's lease is gone or stale, as runs are judged (never by host name and pid); owners
    written before leases (host:pid) by their heartbeat."""
    with _lock:
        own = [r.pk for r in _flying.values() if r.pk is not None]
    legacy = Q(worker__contains=":")
    stale = Q(heartbeat_at__lt=timezone.now() - timedelta(seconds=settings.RUN_STALE_SECONDS))
    return _interrupt(
        APICall.objects.exclude(worker="")
        .exclude(worker__in=Lease.objects.live().values("pk"))
        .exclude(worker=leases.lease_id())
        .exclude(pk__in=own)
        .filter(~legacy | stale)
    )


def _background():
    last_sweep = time.monotonic()
    while True:
        time.sleep(settings.RUN_CHECKPOINT_SECONDS)
        try:
            checkpoint()
            _retry_pending()
            if time.monotonic() - last_sweep > settings.RUN_STALE_SECONDS / 4:
                last_sweep = time.monotonic()
                if sweep_abandoned():
                    log.warning("marked orphaned API calls interrupted")
        except Exception:  # the loop must outlive any one failure
            log.exception("API call checkpoint loop")
            db.reset_connection()


def _summary(calls, group):
    rows = calls.values(group).annotate(
        calls=Count("id"),
        failures=Count("id", filter=Q(status__gte=400) | ~Q(category="")),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
    )
    return {row[group]: row for row in rows}


def recent(days=30):
    return APICall.objects.filter(created_at__gte=timezone.now() - timedelta(days=days))


def usage_by(group, days=30, **filters):
    """{value of `group`: {"calls", "failures", "prompt_tokens", "completion_tokens"}} over the last days."""
    return _summary(recent(days).filter(**filters), group)
