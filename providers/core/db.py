"""Database connections under many open streams, and the hot path's row writes.

Each stream gives its connection back before it waits on the upstream. A playground run is written twice (as
running, then its results): `insert` and `update` write one row with SQL built once per model, backend and set
of columns, the values adapted by each field as save() adapts them. save() builds the statement anew through
the query compiler each time, which was ~6% of the console's CPU under a thousand streams. Nothing listens to
the signals of the models written this way (save() would send them).
"""

from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

_SQL = {}


def release_connection():
    """Give the database connection back (to the pool, or closed) before a run waits on its upstream.

    A thousand open streams then hold no connection; the run's final write takes one again for a moment.
    Inside a transaction (tests) the connection stays: it is not this request's to give back.
    """
    if not connection.in_atomic_block:
        connection.close()


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


def statement(kind, model, names):
    """The INSERT (returning the new primary key where the backend can) or UPDATE by primary key of the columns
    `names` of `model`, built once per backend."""
    key = (kind, model, names, connection.vendor)
    if key not in _SQL:
        meta, quote = model._meta, connection.ops.quote_name
        columns = [quote(meta.get_field(name).column) for name in names]
        table, pk = quote(meta.db_table), quote(meta.pk.column)
        if kind == "insert":
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
            if connection.features.can_return_columns_from_insert:
                sql += f" RETURNING {pk}"
        else:
            sql = f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in columns)} WHERE {pk} = %s"
        _SQL[key] = sql
    return _SQL[key]


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
