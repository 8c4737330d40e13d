"""Playground runs in flight: which server process owns each, their output saved in batches, and the sweeps that
end runs whose process is gone (gunicorn's master when a worker exits and at start-up; a stale-heartbeat backstop).

Nothing here imports the HTTP client: gunicorn's master imports this module before it forks its workers.
"""

import logging
import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from providers.core import process, shutdown
from providers.models import PlaygroundRun, RunStatus

log = logging.getLogger(__name__)

HOST = process.HOST
_lock = threading.Lock()
_tracked = {}  # run pk -> Relay, the runs this process is relaying
_finals = []  # (relay, first failure time) whose final write failed: retried by the background loop
_loop = {"pid": None}
FINAL_RETRY_SECONDS = 600


set_identity = process.set_identity
worker_id = process.worker_id


def drain():
    """This process is shutting down gracefully: every relay ends its run at its next wake-up (within a second);
    the API's streams go on while the graceful timeout allows (core.shutdown)."""
    shutdown.begin()


def draining():
    return shutdown.draining()


def interrupt(ids, message):
    """Mark the runs among `ids` that are still running as interrupted; their output is the last checkpoint."""
    if not ids:
        return 0
    return PlaygroundRun.objects.filter(pk__in=list(ids), status=RunStatus.RUNNING).update(
        status=RunStatus.INTERRUPTED, error_category="run_interrupted", error_message=message
    )


def _lost_message():
    return _(
        "The server process relaying this run stopped before it ended (a crash or a restart). "
        "The text shown is what had been saved until then."
    )


def sweep_worker(pid, master_pid, instance):
    """A worker of this master exited: the runs it still owned can no longer end by themselves."""
    owner = process.owner(pid, master_pid, instance)
    ids = PlaygroundRun.objects.filter(status=RunStatus.RUNNING, worker=owner).values_list("pk", flat=True)
    return interrupt(ids, _lost_message())


def sweep_previous_instances(master_pid, instance):
    """At start-up: runs owned on this host by another server instance whose master is gone (its pid is ours
    now, or no process has it)."""
    owners = set(
        PlaygroundRun.objects.filter(status=RunStatus.RUNNING, worker__startswith=f"{process.HOST}:")
        .values_list("worker", flat=True)
        .distinct()
    )
    dead = process.previous_instances(owners, master_pid, instance)
    ids = PlaygroundRun.objects.filter(status=RunStatus.RUNNING, worker__in=dead).values_list("pk", flat=True)
    return interrupt(ids, _lost_message())


def sweep_stale(limit=200):
    """Runs nobody has saved for RUN_STALE_SECONDS (their process died unseen); at most `limit` per pass."""
    cutoff = timezone.now() - timedelta(seconds=settings.RUN_STALE_SECONDS)
    with _lock:
        own = list(_tracked)
    stale = (
        PlaygroundRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff)
        .exclude(pk__in=own)
        .values_list("pk", flat=True)[:limit]
    )
    return interrupt(list(stale), _lost_message())


# --- this process's runs ---------------------------------------------------------------------------------


def track(relay):
    with _lock:
        _tracked[relay.run.pk] = relay
        first = _loop["pid"] != os.getpid()  # first run of this process (threads do not survive a fork)
        _loop["pid"] = os.getpid()
    if first:  # started outside the lock: under gevent a start yields, and the other runs must not wait on it
        threading.Thread(target=_background, name="run-checkpoints", daemon=True).start()


def untrack(relay):
    with _lock:
        _tracked.pop(relay.run.pk, None)


def retry_final(relay):
    with _lock:
        _finals.append((relay, time.monotonic()))


def checkpoint():
    """One batch for the whole process: the new output of each run, and a heartbeat for all of them."""
    with _lock:
        relays = list(_tracked.values())
    if not relays:
        return
    now = timezone.now()
    changed = [(relay, *relay.unsaved_output()) for relay in relays]
    changed = [(relay, count, text) for relay, count, text in changed if text is not None]
    try:
        with transaction.atomic():
            for relay, _count, text in changed:
                PlaygroundRun.objects.filter(pk=relay.run.pk, status=RunStatus.RUNNING).update(
                    output=text, heartbeat_at=now
                )
            PlaygroundRun.objects.filter(pk__in=[r.run.pk for r in relays], status=RunStatus.RUNNING).update(
                heartbeat_at=now
            )
    except DatabaseError:
        log.warning("could not save the output of %s runs in flight; will retry", len(relays), exc_info=True)
        reset_connection()
        return
    for relay, count, _text in changed:
        relay.checkpointed = count


def _retry_finals():
    with _lock:
        pending, _finals[:] = list(_finals), []
    for relay, since in pending:
        if relay.write_final():
            log.info("playground run %s saved after an earlier failure", relay.run.pk)
        elif time.monotonic() - since < FINAL_RETRY_SECONDS:
            with _lock:
                _finals.append((relay, since))
        else:
            log.error("gave up saving playground run %s; the stale-run sweep will mark it interrupted", relay.run.pk)


def reset_connection():
    """A failed write may leave the connection broken (a restarted PostgreSQL): the next query opens a new one."""
    if not connection.in_atomic_block:
        try:
            connection.close()
        except DatabaseError:
            pass


def _background():
    last_sweep = time.monotonic()
    while True:
        time.sleep(settings.RUN_CHECKPOINT_SECONDS)
        try:
            checkpoint()
            _retry_finals()
            if time.monotonic() - last_sweep > settings.RUN_STALE_SECONDS / 4:
                last_sweep = time.monotonic()
                swept = sweep_stale()
                if swept:
                    log.warning("marked %s orphaned playground runs interrupted", swept)
        except Exception:  # the loop must outlive any one failure
            log.exception("run checkpoint loop")
            reset_connection()
