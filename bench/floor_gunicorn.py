"""Gunicorn settings for the bare floor: the console's own server settings (config/gunicorn.py), without its
run-lifecycle hooks, which need the console's database and Django's apps (the floor has neither)."""

from config.gunicorn import (  # noqa: F401 (gunicorn reads the module's names)
    access_log_format,
    accesslog,
    backlog,
    bind,
    errorlog,
    graceful_timeout,
    keepalive,
    threads,
    timeout,
    umask,
    worker_class,
    worker_connections,
    workers,
)
