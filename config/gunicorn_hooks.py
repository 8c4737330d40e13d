"""Gunicorn hooks that keep playground runs truthful across worker crashes and restarts (threads or gevent).

The master marks the runs of a worker that exited (killed, crashed, timed out) and, at start-up, those of a
previous server instance as interrupted, keeping their last checkpoint; a worker told to stop gracefully ends
the streams it holds with a final line instead of leaving them to be cut.
"""

import logging
import os
import signal

log = logging.getLogger("gunicorn.error")


def _in_master(sweep, *args):
    """Run a sweep from the master, which never keeps a database connection across a fork."""
    import django

    django.setup(set_prefix=False)
    from django.db import connections

    from providers import run_lifecycle

    try:
        count = getattr(run_lifecycle, sweep)(*args)
        if count:
            log.warning("marked %s playground runs interrupted (%s)", count, sweep)
    except Exception:  # a database that is down must not stop the server; the stale-run sweep catches up
        log.exception("could not mark orphaned playground runs (%s)", sweep)
    finally:
        connections.close_all()


def when_ready(server):
    _in_master("sweep_previous_instances", os.getpid())


def child_exit(server, worker):
    _in_master("sweep_worker", worker.pid, os.getpid())


def post_worker_init(worker):
    from providers import run_lifecycle

    previous = signal.getsignal(signal.SIGTERM)

    def graceful(sig, frame):
        run_lifecycle.drain()
        if callable(previous):
            previous(sig, frame)

    signal.signal(signal.SIGTERM, graceful)


def worker_int(worker):
    from providers import run_lifecycle

    run_lifecycle.drain()
