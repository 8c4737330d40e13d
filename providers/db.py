"""Database connections under many open streams: each is given back before its stream waits on the upstream."""

from django.db import connection


def release_connection():
    """Give the database connection back (to the pool, or closed) before a run waits on its upstream.

    A thousand open streams then hold no connection; the run's final write takes one again for a moment.
    Inside a transaction (tests) the connection stays: it is not this request's to give back.
    """
    if not connection.in_atomic_block:
        connection.close()
