"""One number that changes whenever configuration a request depends on changes, seen by every process.

Users, roles, permissions, models and the provider token are read on every request. Each process may keep them
in memory (`LocalCache`) keyed on `current()`: one cheap query per request tells whether anything changed since,
in any worker process or on any machine sharing the database. `bump()` runs in the same transaction as the
change, so nobody can see the change while still holding the old number.
"""

import threading

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models.signals import m2m_changed, post_delete, post_save

from providers.core import db

_SELECT = "SELECT value FROM providers_freshness WHERE id = 1"
_UPDATE = "UPDATE providers_freshness SET value = value + 1 WHERE id = 1"


def current():
    shared = db.shared()  # SQLite: the process's own connection (core/db.py)
    if shared is not None:
        row = db.run_shared(shared, _SELECT, fetch=True)
        return row[0] if row else 0
    connection = connections[DEFAULT_DB_ALIAS]  # one look-up through the per-context proxy, not five
    if connection.queries_logged:  # DEBUG, or a test capturing queries: Django's cursor, so it is counted
        with connection.cursor() as cursor:
            cursor.execute(_SELECT)
            row = cursor.fetchone()
    else:
        row = db.run_plain(connection, _SELECT, fetch=True)  # every request runs this
    return row[0] if row else 0


def bump():
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE)
        if cursor.rowcount == 0:  # the row is gone (a flushed test database): start again from 1
            cursor.execute("INSERT INTO providers_freshness (id, value) VALUES (1, 1)")


class LocalCache:
    """Values loaded from the database, kept in this process until `current()` moves on.

    A caller that read an older number than the cache already holds loads without storing, so a slow request
    can never put stale values back.
    """

    def __init__(self):
        self._generation = None
        self._values = {}
        self._lock = threading.Lock()

    def get(self, key, load, generation):
        with self._lock:
            if self._generation is None or generation > self._generation:
                self._generation, self._values = generation, {}
            if generation == self._generation and key in self._values:
                return self._values[key]
        value = load()
        with self._lock:
            if generation == self._generation:
                self._values[key] = value
        return value

    def clear(self):
        with self._lock:
            self._generation, self._values = None, {}


# Saving a user only to record a log-in changes nothing a cached value holds.
_USAGE_ONLY_FIELDS = {"last_login"}


def _on_save(sender, update_fields=None, **kwargs):
    if update_fields and set(update_fields) <= _USAGE_ONLY_FIELDS:
        return
    bump()


def _on_change(sender, **kwargs):
    bump()


def _on_m2m(sender, action, **kwargs):
    if action in ("post_add", "post_remove", "post_clear"):
        bump()


def watch(*models):
    """Bump on every save or delete of these models (other apps' models register themselves here too)."""
    for model in models:
        post_save.connect(_on_save, sender=model, dispatch_uid=f"freshness-save-{model._meta.label}")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"freshness-delete-{model._meta.label}")


def connect_signals():
    from providers.models import HFModel, ProviderSettings

    user = get_user_model()
    watch(user, Group, Permission, HFModel, ProviderSettings)
    for through in (user.groups.through, user.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(_on_m2m, sender=through, dispatch_uid=f"freshness-m2m-{through._meta.label}")
