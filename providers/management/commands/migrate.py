"""Django's migrate, one at a time per database: several instances starting at once (or an upgrade rolled out to
each) apply each migration once, and the later ones find the work done instead of failing half-way."""

import fcntl
from contextlib import contextmanager
from pathlib import Path

from django.core.management.commands import migrate
from django.db import connections

# Any fixed number: the key of PostgreSQL's session-level advisory lock that every instance's migrate takes.
ADVISORY_LOCK_KEY = 0x68666D63  # "hfmc"


@contextmanager
def migration_lock(alias):
    """Held while migrations run on the database `alias`: an advisory lock on PostgreSQL (shared by every machine
    that uses the database), a file lock beside an SQLite file (shared by the processes that can open it)."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        locker = connections.create_connection(alias)  # its own session: migrate may reset the main one
        try:
            with locker.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            yield
        finally:
            locker.close()  # ends the session, and with it the lock, whatever happened
        return
    name = str(connection.settings_dict.get("NAME") or "")
    if connection.vendor != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        yield
        return
    with open(Path(name).with_name(Path(name).name + ".migrate-lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class Command(migrate.Command):
    def execute(self, *args, **options):
        # Around the system checks too: they open the database (SQLite switches it to WAL then, which fails
        # at once while another process holds the file) and may read tables a running migration is creating.
        with migration_lock(options.get("database") or "default"):
            return super().execute(*args, **options)
