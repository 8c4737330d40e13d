"""Database connections under many open streams, and the hot path's row writes.

Each stream gives its connection back before it waits on the upstream. A playground run is written twice (as
running, then its results): `insert` and `update` write one row with SQL built once per model, backend and set
of columns, the values adapted by each field as save() adapts them. save() builds the statement anew through
the query compiler each time, which was ~6% of the console's CPU under a thousand streams. Nothing listens to
the signals of the models written this way (save() would send them).

On SQLite, the two statements every API call makes (the freshness read before it, its record after) run on one
connection the process keeps (`shared()`): see there.
"""

import os
import threading

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from gevent import monkey

_SQL = {}


def release_connection():
    """Give the database connection back (to the pool, or closed) before a run waits on its upstream.

    A thousand open streams then hold no connection; the run's final write takes one again for a moment.
    Inside a transaction (tests) the connection stays: it is not this request's to give back.
    """
    for made in connections.all(initialized_only=True):  # this context's connections: none is made to close it
        if not made.in_atomic_block:
            made.close()


def unreachable(exc):
    """Whether `exc` says the database cannot be reached (down, restarting, no connection to be had in time), as
    opposed to a fault of the request: PostgreSQL's connection failures and the pool's timeout, a closed
    connection, or an SQLite file that cannot be opened."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if connection.vendor == "postgresql":
        return True  # psycopg's OperationalError: the connection (or the server behind it) failed
    return "unable to open database" in str(exc).lower()


def reset_connection():
    """A failed write may leave the connection broken (a restarted PostgreSQL): the next query opens a new one."""
    if not connection.in_atomic_block:
        try:
            connection.close()
        except DatabaseError:
            pass


def statement(kind, model, names, on=None):
    """The INSERT (returning the new primary key where the backend can) or UPDATE by primary key of the columns
    `names` of `model`, built once per backend (of `on`, a connection; this context's by default)."""
    on = on or connection
    key = (kind, model, names, on.vendor)
    if key not in _SQL:
        meta, quote = model._meta, on.ops.quote_name
        columns = [quote(meta.get_field(name).column) for name in names]
        table, pk = quote(meta.db_table), quote(meta.pk.column)
        if kind == "insert":
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
            if on.features.can_return_columns_from_insert:
                sql += f" RETURNING {pk}"
        else:
            sql = f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in columns)} WHERE {pk} = %s"
        _SQL[key] = sql
    return _SQL[key]


# --- The process's own SQLite connection -------------------------------------------------------------------------
#
# Under gevent every request is a greenlet with a Django connection of its own: made (a DatabaseWrapper and its
# helpers), taken from the pool, set up, given back and dropped, twice per API call (the freshness read before it,
# its record after), which was ~4% of a relayed stream's CPU at a thousand streams. On SQLite those two statements,
# each committed on its own, run instead on one connection the process keeps, made as Django makes one (the same
# PRAGMAs, the same error classes). A statement does not yield to other greenlets, so they take turns on it as
# they would on the database anyway. Where the context's own connection is in a transaction (tests, the
# checkpoint's batch) or logs its queries, that one runs them: it sees the transaction's rows, and the queries are
# counted. gthread workers keep a connection per thread already; PostgreSQL's come from a pool.

_shared = {"pid": None, "wrapper": None}
_shared_lock = threading.Lock()


def shared():
    """The process's own connection (a DatabaseWrapper) for a statement committed on its own, or None where this
    context's connection must run it (not gevent, not SQLite, an in-memory database, DEBUG, a transaction, logged
    queries)."""
    if _shared["pid"] != os.getpid():  # a forked worker makes its own: a connection must not cross a fork
        wrapper = None
        if monkey.is_module_patched("threading"):  # gevent's workers
            wrapper = connections.create_connection(DEFAULT_DB_ALIAS)  # not connected until a statement needs it
            wrapper.inc_thread_sharing()  # used by every greenlet of the process, one at a time
            if wrapper.vendor != "sqlite" or wrapper.is_in_memory_db():
                wrapper = None
        _shared.update(pid=os.getpid(), wrapper=wrapper)
    if _shared["wrapper"] is None or settings.DEBUG:
        return None
    for own in connections.all(initialized_only=True):  # never makes the context's connection to ask it
        if own.alias == DEFAULT_DB_ALIAS and (own.in_atomic_block or own.queries_logged):
            return None
    return _shared["wrapper"]


def run_shared(wrapper, sql, params=(), fetch=False):
    """Run one statement (Django's %s placeholders) on `shared()`'s connection, committed on its own; its first row
    when `fetch`. Raises Django's DatabaseError classes; after one, the connection is made anew for the next."""
    with _shared_lock:
        try:
            return run_plain(wrapper, sql, params, fetch)
        except DatabaseError:
            try:
                wrapper.close()
            except DatabaseError:
                wrapper.connection = None
            raise


def run_plain(on, sql, params=(), fetch=False):
    """Run one statement (Django's %s placeholders) on the connection of `on` (a DatabaseWrapper) with its driver's
    own cursor, outside a transaction; its first row when `fetch`. Django's cursor and its wrappers cost ~80 µs
    around a ~4 µs SQLite read, on a statement every request makes. Raises Django's DatabaseError classes."""
    on.ensure_connection()
    with on.wrap_database_errors:
        cursor = on.connection.cursor()
        try:
            if params:
                cursor.execute(_qmark(sql) if on.vendor == "sqlite" else sql, params)
            else:
                cursor.execute(sql)  # as written: nothing for a driver to substitute
            return cursor.fetchone() if fetch else None
        finally:
            cursor.close()


_QMARK = {}


def _qmark(sql):
    """SQLite's placeholders for Django's, as its cursor wrapper converts them (no statement here holds a %)."""
    if sql not in _QMARK:
        _QMARK[sql] = sql.replace("%s", "?")
    return _QMARK[sql]


def insert(obj):
    """INSERT `obj` (a new instance, its primary key automatic) and set its primary key, as save() would."""
    meta = type(obj)._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    sql = statement("insert", type(obj), tuple(f.attname for f in fields))
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(sql, values)
        if connection.features.can_return_columns_from_insert:
            pk = cursor.fetchone()[0]
        else:
            pk = connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column)
    obj.pk = pk
    obj._state.adding, obj._state.db = False, connection.alias


def update(obj, names):
    """UPDATE the columns `names` of `obj`'s row; the number of rows changed (0: the row is gone)."""
    meta = type(obj)._meta
    fields = [meta.get_field(name) for name in names]
    values = [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(statement("update", type(obj), tuple(names)), [*values, obj.pk])
        return cursor.rowcount
