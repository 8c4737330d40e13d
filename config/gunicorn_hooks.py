"""Gunicorn hooks that keep playground runs and API calls truthful across worker crashes and restarts (threads or
gevent).

The master marks the runs of a worker that exited (killed, crashed, timed out) and, at start-up, those of a
previous server instance as interrupted, keeping their last checkpoint; a worker told to stop gracefully ends
the streams it holds with a final line instead of leaving them to be cut.
"""

import logging
import os
import signal
import uuid

log = logging.getLogger("gunicorn.error")
INSTANCE = uuid.uuid4().hex[:12]  # this server's run; workers inherit it, a restarted server gets a new one


_MASTER_SIGNALS = ("SIGHUP", "SIGQUIT", "SIGINT", "SIGTERM", "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def _in_master(sweep, *args):
    """Run a sweep for the master in a forked child, so the master never loads the ORM: thread-locals made before
    a gevent worker forks and monkey-patches would be shared by all its greenlets (one database connection for
    all). The master does not wait; it reaps the child like any other."""
    pid = os.fork()
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

        count = getattr(run_lifecycle, sweep)(*args)
        if count:
            log.warning("marked %s playground runs interrupted (%s)", count, sweep)
        count = getattr(accounting, sweep)(*args)
        if count:
            log.warning("marked %s API calls interrupted (%s)", count, sweep)
        code = 0
    except Exception:  # a database that is down must not stop the server; the stale-run sweep catches up
        log.exception("could not mark orphaned playground runs (%s)", sweep)
    finally:
        os._exit(code)


def when_ready(server):
    _in_master("sweep_previous_instances", os.getpid(), INSTANCE)


def child_exit(server, worker):
    _in_master("sweep_worker", worker.pid, os.getpid(), INSTANCE)


def post_worker_init(worker):
    from providers.core import shutdown
    from providers.playground import lifecycle as run_lifecycle

    run_lifecycle.set_identity(worker.ppid, INSTANCE)
    shutdown.set_grace(worker.cfg.graceful_timeout)  # the command line's value, if it overrides the config's

    previous = signal.getsignal(signal.SIGTERM)

    def graceful(sig, frame):
        run_lifecycle.drain()
        if callable(previous):
            previous(sig, frame)

    signal.signal(signal.SIGTERM, graceful)


def worker_int(worker):
    from providers.playground import lifecycle as run_lifecycle

    run_lifecycle.drain()
