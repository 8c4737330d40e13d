"""Playground runs in flight: which server process owns each (its lease), their output saved in batches, and the
sweeps that end runs whose process is gone: gunicorn's master when a worker exits and when it finds a dead server
of this machine at start-up, and every server process from its start, judging only by leases.

Nothing here imports the HTTP client: gunicorn's master imports this module before it forks its workers.
"""

import atexit
import logging
import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from providers.core import db, leases, shutdown
from providers.models import Lease, PlaygroundRun, RunStatus

log = logging.getLogger(__name__)

_lock = threading.Lock()
_tracked = {}  # run pk -> Relay, the runs this process is relaying
_finals = []  # (relay, first failure time) whose final write failed: retried by the background loop
_process = {"pid": None, "stopped": False}
FINAL_RETRY_SECONDS = 600


def worker_id():
    """The owner a new run names: this process's lease id."""
    return leases.lease_id()


def start_process():
    """At the server process's start (the WSGI module, gunicorn's post_worker_init; once per process): hold its
    lease and start the loop that renews it, saves the runs' output and sweeps abandoned runs."""
    with _lock:
        if _process["pid"] == os.getpid():
            return
        _process.update(pid=os.getpid(), stopped=False)  # threads do not survive a fork
    try:
        leases.renew()
    except DatabaseError:  # a database that is down must not stop the server: the loop renews it later
        log.warning("could not write this process's lease; will retry", exc_info=True)
        db.reset_connection()
    atexit.register(stop_process)
    threading.Thread(target=_background, name="run-checkpoints", daemon=True).start()


def stop_process():
    """A clean stop: the others need not wait for this process's lease to go stale."""
    with _lock:
        if _process["pid"] != os.getpid() or _process["stopped"]:
            return
        _process["stopped"] = True
    try:
        leases.release()
    except DatabaseError:
        log.warning("could not delete this process's lease; it goes stale instead", exc_info=True)


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


def _end_leases(leased):
    """Interrupt the runs owned by the leases of `leased` (a queryset) and delete those leases."""
    ids = PlaygroundRun.objects.filter(status=RunStatus.RUNNING, worker__in=leased.values("pk")).values_list(
        "pk", flat=True
    )
    count = interrupt(ids, _lost_message())
    leased.delete()
    return count


def sweep_worker(lease_id):
    """gunicorn's master: a worker exited (killed, crashed, timed out), so the runs it still owned can no longer
    end by themselves."""
    return _end_leases(Lease.objects.filter(pk=lease_id))


def sweep_instances(instances):
    """gunicorn's master at start-up: the processes of the servers of this machine that are gone (see
    config/gunicorn_hooks.py) cannot renew their leases; their runs end now rather than when those go stale."""
    return _end_leases(Lease.objects.filter(instance__in=list(instances)))


def sweep_abandoned(limit=200):
    """Runs whose owner's lease is gone or stale, at most `limit` per pass; then the stale leases themselves.
    A live lease's runs are never touched, whatever host name or pid its process has."""
    live = Lease.objects.live().values("pk")
    with _lock:
        own = list(_tracked)
    # Owners written before leases (host:pid, or none) are judged by their heartbeat, as they were then.
    legacy = Q(worker="") | Q(worker__contains=":")
    stale = Q(heartbeat_at__lt=timezone.now() - timedelta(seconds=settings.RUN_STALE_SECONDS))
    abandoned = (
        PlaygroundRun.objects.filter(status=RunStatus.RUNNING)
        .exclude(worker__in=live)
        .exclude(worker=leases.lease_id())
        .exclude(pk__in=own)
        .filter(~legacy | stale | Q(heartbeat_at=None))
        .values_list("pk", flat=True)[:limit]
    )
    count = interrupt(list(abandoned), _lost_message())
    Lease.objects.exclude(pk__in=live).exclude(pk=leases.lease_id()).delete()
    return count


# --- this process's runs ---------------------------------------------------------------------------------


def track(relay):
    with _lock:
        _tracked[relay.run.pk] = relay


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
        db.reset_connection()
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
        elif relay.write_seen():
            log.error("playground run %s was saved without its figures after repeated failures", relay.run.pk)
        else:  # this process's live lease keeps the sweeps off its runs: it ends the run itself
            log.error("gave up saving playground run %s; marking it interrupted", relay.run.pk)
            try:
                interrupt([relay.run.pk], _lost_message())
            except DatabaseError:  # the database refuses this too: the sweeps end it once this lease has ended
                log.error("could not mark playground run %s interrupted either", relay.run.pk)
                db.reset_connection()


def _background():
    """Every tick: save the runs' output; every fifth of RUN_STALE_SECONDS renew the lease, every tenth sweep."""
    stale = settings.RUN_STALE_SECONDS
    tick = min(settings.RUN_CHECKPOINT_SECONDS, stale / 20)  # fine enough that a sweep is never a tenth late
    renew_at = sweep_at = time.monotonic()
    while True:
        time.sleep(tick)
        if _process["stopped"]:  # a renewal now would bring back the lease this clean stop deleted
            return
        try:
            checkpoint()
            _retry_finals()
            if time.monotonic() >= renew_at:
                renew_at = time.monotonic() + stale / 5
                leases.renew()
            if time.monotonic() >= sweep_at:
                sweep_at = time.monotonic() + stale / 10
                swept = sweep_abandoned()
                if swept:
                    log.warning("marked %s orphaned playground runs interrupted", swept)
        except Exception:  # the loop must outlive any one failure
            log.exception("run checkpoint loop")
        finally:
            db.reset_connection()  # between ticks the connection goes back (to the pool): requests need it more
