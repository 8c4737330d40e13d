"""This process's lease (a `Lease` row): held from the server process's start, renewed by its background loop,
deleted when it stops cleanly. Other instances judge this process's runs by it and read which keys it holds.

The id is random and made once per process (never host and pid: containers and cloned machines repeat both).
gunicorn's forked worker sets it before Django is set up, so the models are imported where they are used.
"""

import os
import socket
import uuid

_ids = {}  # pid -> (lease id, server instance token): a forked child makes its own


def new_id():
    return uuid.uuid4().hex


def set_id(lease_id, instance=""):
    """gunicorn's master makes each worker's id before the fork, so it can end that worker's runs when it dies."""
    _ids[os.getpid()] = (lease_id, instance)


def lease_id():
    pid = os.getpid()
    if pid not in _ids:
        _ids[pid] = (new_id(), "")
    return _ids[pid][0]


def renew():
    """Write this process's lease as seen now (again after another instance deleted it as stale, during a
    database outage). Times are the database's: the machines' clocks may differ."""
    from django.db.models.functions import Now

    from providers.core import crypto
    from providers.models import Lease

    key_ids = list(crypto.keyring().keys)
    if Lease.objects.filter(pk=lease_id()).update(seen_at=Now(), key_ids=key_ids):
        return
    Lease.objects.update_or_create(
        pk=lease_id(),
        defaults={"seen_at": Now(), "key_ids": key_ids},
        create_defaults={
            "instance": _ids[os.getpid()][1],
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "started_at": Now(),
            "seen_at": Now(),
            "key_ids": key_ids,
        },
    )


def release():
    from providers.models import Lease

    Lease.objects.filter(pk=lease_id()).delete()
