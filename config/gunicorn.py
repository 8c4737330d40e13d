"""Gunicorn settings for `make run`: gevent workers, so that a thousand playground streams can be open at once.

A stream spends its life waiting on the upstream, not on the CPU. With gevent every socket wait (the browser,
the upstream through `requests`, PostgreSQL through psycopg) yields to the other requests of the process, so
one process holds WEB_WORKER_CONNECTIONS streams with a few kilobytes each, where a thread costs a stack and
a slot of a fixed pool. Django and `requests` stay synchronous. WEB_WORKER_CLASS=gthread goes back to
WEB_THREADS threads per process (the README compares both). The values come from Django's settings, the one
place that reads the environment and .env.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

from config.memory import keep_freed_memory  # noqa: E402
from config.startup import PRIVATE_UMASK, harden  # noqa: E402

harden()  # in the master, before any worker is forked: one report per start
keep_freed_memory()  # the workers inherit it (config/memory.py)

bind = f"{settings.WEB_HOST}:{settings.WEB_PORT}"
workers = settings.WEB_WORKERS
# gevent: gunicorn's worker with a cheaper small write to the browser (config/gevent_worker.py)
worker_class = "config.gevent_worker.Worker" if settings.WEB_WORKER_CLASS == "gevent" else settings.WEB_WORKER_CLASS
worker_connections = settings.WEB_WORKER_CONNECTIONS  # simultaneous requests (streams) per gevent worker
threads = settings.WEB_THREADS  # gthread only
backlog = 4096  # a burst of a thousand connections waits in the queue instead of being refused
timeout = settings.WEB_TIMEOUT  # gevent: seconds a worker may stop answering its master; gthread: one request
graceful_timeout = settings.WEB_GRACEFUL_TIMEOUT  # streams still open near its end close with a final event
keepalive = 5
umask = PRIVATE_UMASK
errorlog = "-"
# One access line per request costs a format and a write on the request's path; Django's own log already
# records 4xx and 5xx with the request id. WEB_ACCESS_LOG=true brings the line back.
accesslog = "-" if settings.WEB_ACCESS_LOG else None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'

# Run lifecycle: a dead worker's runs end interrupted, a graceful stop ends its streams (see the hooks' module).
from config.gunicorn_hooks import (  # noqa: E402,F401
    child_exit,
    on_exit,
    post_fork,
    post_worker_init,
    pre_fork,
    when_ready,
    worker_exit,
    worker_int,
)
