"""Django's SQLite backend, with closed connections kept in a small per-process pool instead of closed.

Under gevent every request has a connection of its own and gives it back before its stream waits, so it would
open SQLite (a file, its WAL, ~40 registered functions, PRAGMAs) twice a request. Kept connections make that a
list pop. The pool holds at most DATABASE_POOL_SIZE idle connections; one is kept only outside a transaction.
While any connection stays open the write-ahead log is never checkpointed and deleted on close.
"""

import threading

from django.db.backends.sqlite3 import base

_idle = {}  # database name -> [sqlite3.Connection]
_lock = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        with _lock:
            idle = _idle.get(conn_params["database"])
            if idle:
                return idle.pop()
        return super().get_new_connection(conn_params)

    def _close(self):
        conn = self.connection
        if conn is None or self.is_in_memory_db() or conn.in_transaction:
            return super()._close()
        with _lock:
            idle = _idle.setdefault(self.settings_dict["NAME"], [])
            if len(idle) < self.settings_dict.get("POOL_SIZE", 10):
                idle.append(conn)
                return None
        return super()._close()
