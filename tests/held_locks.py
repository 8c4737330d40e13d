"""A database lock held by another session for a while, as another process's writer holds it (an admin's import,
a long transaction): for the tests of what a request does while it waits."""

import sqlite3
import threading
import time

from django.db import connection


def hold_write_lock(seconds):
    """Another process's writer holding SQLite's write lock for `seconds`; the event is set once it let go."""
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=30, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return release_after(other, seconds)


def release_after(other, seconds):
    """Roll back and close the other session's connection `seconds` from now; the event is set once it has."""
    released = threading.Event()

    def release():
        time.sleep(seconds)
        other.rollback()
        other.close()
        released.set()

    threading.Thread(target=release, daemon=True).start()
    return released
