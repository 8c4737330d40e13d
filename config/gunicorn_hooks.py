"""Gunicorn hooks that keep playground runs and API calls truthful across worker crashes and restarts (threads or
gevent).

Each worker holds a lease from its start (providers/core/leases.py), with an id its master makes before the fork:
the master marks the runs of a worker that exited (killed, crashed, timed out) as interrupted, keeping their last
checkpoint, and at start-up those of a previous server of this machine that is gone; a worker told to stop
gracefully ends the streams it holds with a final line and deletes its lease.
"""

import fcntl
import logging
import os
import signal
import uuid
from pathlib import Path

from django.conf import settings

from providers.core import leases

log = logging.getLogger("gunicorn.error")
INSTANCE = uuid.uuid4().hex[:12]  # this server's run; workers inherit it, a restarted server gets a new one
_held = []  # this server's lock file, open in the master and every worker: the kernel frees it when the last ends


_MASTER_SIGNALS = ("SIGHUP", "SIGQUIT", "SIGINT", "SIGTERM", "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def _in_master(sweep, *args):
    """Run a sweep for the master in a forked child, so the master never loads the ORM: thread-locals made before
    a gevent worker forks and monkey-patches would be shared by all its greenlets (one database connection for
    all). The master does not wait; it reaps the child like any other.

    SIGCHLD is held back while it forks: its handler (gunicorn's reap_workers) calls child_exit, which forks; run
    inside this fork's own at-fork callbacks, that second fork waited forever on a lock the first one still held
    (concurrent.futures takes one around every fork), and the master hung at a graceful stop (seen once in CI:
    two workers exiting a moment apart). tests/core/test_master_forks.py reproduces it."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        pid = os.fork()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a SIGCHLD that came meanwhile is handled now
    if pid:
        return
    code = 1
    try:
        for name in _MASTER_SIGNALS + ("SIGCHLD",):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        import django

        django.setup(set_prefix=False)
        from providers.api import accounting
        from providers.playground import lifecycle as run_lifecycle

        # API calls first: they are found by their process's lease, which the runs' sweep then deletes.
        count = getattr(accounting, sweep)(*args)
        if count:
            log.warning("marked %s API calls interrupted (%s)", count, sweep)
        count = getattr(run_lifecycle, sweep)(*args)
        if count:
            log.warning("marked %s playground runs interrupted (%s)", count, sweep)
        code = 0
    except Exception:  # a database that is down must not stop the server; the leases' sweep catches up
        log.exception("could not mark orphaned playground runs (%s)", sweep)
    finally:
        os._exit(code)


def _lock_folder():
    folder = Path(settings.DATA_DIR) / "instances"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def gone_servers():
    """Lock this server's file under DATA_DIR/instances and return the servers of this machine whose file nobody
    holds any more: all their processes ended, whatever their pids (a lock, unlike a pid, is never reused)."""
    folder = _lock_folder()
    mine = open(folder / f"{INSTANCE}.lock", "w")  # held for the server's life
    fcntl.flock(mine, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _held.append(mine)
    gone = []
    for path in folder.glob("*.lock"):
        if path.stem == INSTANCE:
            continue
        try:
            with path.open() as other:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, FileNotFoundError):
            continue  # alive, or already taken care of by another server starting
        gone.append(path.stem)
        path.unlink(missing_ok=True)
    return gone


def when_ready(server):
    try:
        gone = gone_servers()
    except OSError:
        log.warning(
            "cannot lock a file under %s/instances: runs of a crashed server end when its leases go stale",
            settings.DATA_DIR,
            exc_info=True,
        )
        return
    if gone:
        _in_master("sweep_instances", gone)


def on_exit(server):
    for held in _held:
        Path(held.name).unlink(missing_ok=True)
        held.close()


def pre_fork(server, worker):
    worker.lease_id = leases.new_id()


def post_fork(server, worker):
    leases.set_id(worker.lease_id, INSTANCE)


def child_exit(server, worker):
    _in_master("sweep_worker", worker.lease_id)


def post_worker_init(worker):
    from providers.core import shutdown
    from providers.playground import lifecycle as run_lifecycle

    run_lifecycle.start_process()  # already started when the WSGI module was loaded; a server of another module
    shutdown.set_grace(worker.cfg.graceful_timeout)  # the command line's value, if it overrides the config's

    previous = signal.getsignal(signal.SIGTERM)

    def graceful(sig, frame):
        run_lifecycle.drain()
        if callable(previous):
            previous(sig, frame)

    signal.signal(signal.SIGTERM, graceful)
    _say_where(worker)


def worker_int(worker):
    from providers.playground import lifecycle as run_lifecycle

    run_lifecycle.drain()


def worker_exit(server, worker):
    from providers.playground import lifecycle as run_lifecycle

    run_lifecycle.stop_process()


def _say_where(worker):
    """The last line of a start: where to open the console (the last of the first workers says it, once)."""
    if worker.age != worker.cfg.workers:
        return
    host, _sep, port = str(worker.cfg.bind[0]).rpartition(":")
    if host in ("0.0.0.0", "[::]", ""):
        host = "this machine's address"
    log.info("The console is ready: open http://%s:%s/ in a browser.", host, port)
