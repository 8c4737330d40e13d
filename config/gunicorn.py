"""Gunicorn settings for `make run`: threads, so that many playground streams can be open at once.

Each stream holds a thread for its duration (it waits on the upstream, not the CPU), so a few processes
with many threads serve dozens of simultaneous streams on a small machine. Responses go out unbuffered.
The values come from Django's settings, the one place that reads the environment and .env.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

from config.startup import PRIVATE_UMASK, harden  # noqa: E402

harden()  # in the master, before any worker is forked: one report per start

bind = f"{settings.WEB_HOST}:{settings.WEB_PORT}"
workers = settings.WEB_WORKERS
worker_class = "gthread"
threads = settings.WEB_THREADS
timeout = settings.WEB_TIMEOUT  # long generations stream for minutes
graceful_timeout = 30
keepalive = 5
umask = PRIVATE_UMASK
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
from config.gunicorn_hooks import child_exit, post_worker_init, when_ready, worker_int  # noqa: E402,F401
