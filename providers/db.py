"""Database connections under many open streams: given back before a stream waits, and SQLite's WAL kept open."""

import sqlite3

from django.db import connection


def release_connection():
    """Give the database connection back (to the pool, or closed) before a run waits on its upstream.

    A thousand open streams then hold no connection; the run's final write takes one again for a moment.
    Inside a transaction (tests) the connection stays: it is not this request's to give back.
    """
    if not connection.in_atomic_block:
        connection.close()


_keeper = None


def keep_sqlite_wal_open():
    """On SQLite, hold one idle connection for the life of this server process.

    Requests open and close their own connections; when the one closing is the last on the file, SQLite
    checkpoints and deletes the write-ahead log, and the next request creates it again: ~20 ms a request.
    An idle connection that stays open means a request's close never is the last.
    """
    global _keeper
    if connection.vendor == "sqlite" and _keeper is None:
        _keeper = sqlite3.connect(connection.settings_dict["NAME"], check_same_thread=False)
        _keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the file and its WAL index
