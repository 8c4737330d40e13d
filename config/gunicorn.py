"""Gunicorn settings for `make run`: threads, so that many playground streams can be open at once.

Each stream holds a thread for its duration (it waits on the upstream, not the CPU), so a few processes
with many threads serve dozens of simultaneous streams on a small machine. Responses go out unbuffered.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "48"))
timeout = int(os.environ.get("WEB_TIMEOUT", "300"))  # long generations stream for minutes
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
