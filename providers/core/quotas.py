"""Shared counters behind the console's limits: requests per minute and held slots (open streams), exact across
every process and every instance that share the store.

The store is chosen once from the settings (`quota_stores.choose`): the Redis of CACHE_URL, else PostgreSQL,
else locked files under API_LIMITS_DIR (SQLite means one machine). A slot in a shared store is a lease: the
process that holds it renews all its slots in one call every third of STREAM_SLOT_LEASE_SECONDS, so a stream
may live as long as it needs, and a slot whose process died is free again within one lease.
"""

import logging
import math
import os
import re
import threading
import time

from django.conf import settings

from providers.core import db

log = logging.getLogger(__name__)

RATE = "rate_limit_exceeded"
SLOTS = "too_many_streams"
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,150}")  # also a file name in the file store


class Limited(Exception):
    def __init__(self, code, retry_after):
        self.code = code  # RATE or SLOTS
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(code)


class Unavailable(Exception):
    """The store could not be reached or did not answer: nothing was counted or taken."""


_chosen = {}


def store():
    """The process's store, chosen from the settings on first use."""
    if "store" not in _chosen:
        from providers.core import quota_stores

        _chosen["store"] = quota_stores.choose()
    return _chosen["store"]


def use(chosen):
    """Replace the chosen store (tests run each store through the same functions); None chooses again."""
    _chosen.pop("store", None)
    if chosen is not None:
        _chosen["store"] = chosen


def _checked(name):
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a counter name: {name!r}")
    return name


def take_rate(counters):
    """Count one event against every (name, rate per minute) of `counters` (a rate of 0 or less is no limit), or
    raise Limited(RATE, the exact wait) and count nothing. A generic cell rate: `rate` at once from idle, then
    one every 60/rate seconds. Counters are locked in name order, so two callers never deadlock.

    Returns (limit, left, seconds until all are back) of the tightest counter, or None when none limits."""
    counters = sorted((_checked(name), rate) for name, rate in counters if rate and rate > 0)
    if counters:
        return store().take_rate(counters)
    return None


def take_slot(name, limit):
    """One of the `limit` (above 0) slots of `name`, held until its release() (or its holder's death), or raise
    Limited(SLOTS)."""
    chosen = store()
    token = chosen.take_slot(_checked(name), limit, settings.STREAM_SLOT_LEASE_SECONDS)
    if token is None:
        raise Limited(SLOTS, 1)
    slot = Slot(chosen, name, token)
    if chosen.leased:
        _leases.hold(slot)
    return slot


def forget(name):
    """Drop the counters and slots of `name` (a revoked key's)."""
    try:
        store().forget(_checked(name))
    except Unavailable:
        log.warning("could not drop the counters of %s; they expire by themselves", name)


class Slot:
    def __init__(self, chosen, name, token):
        self.store, self.name, self.token = chosen, name, token
        self.released = False

    def release(self):
        """Give the slot back. Never raises: a store that cannot be reached lets the lease run out instead."""
        if self.released:
            return
        self.released = True
        if self.store.leased:
            _leases.drop(self)
        try:
            self.store.release(self.name, self.token)
        except Unavailable:
            log.warning("could not release a slot of %s; its lease frees it", self.name)


class _Leases:
    """The leased slots this process holds, and the one loop that renews them all."""

    def __init__(self):
        self.lock = threading.Lock()
        self.slots = {}
        self.pid = None

    def hold(self, slot):
        with self.lock:
            self.slots[slot.token] = slot
            first = self.pid != os.getpid()  # the first of this process (threads do not survive a fork)
            self.pid = os.getpid()
        if first:  # outside the lock: under gevent a start yields, and other requests must not wait on it
            threading.Thread(target=self._loop, name="slot-leases", daemon=True).start()

    def drop(self, slot):
        with self.lock:
            self.slots.pop(slot.token, None)

    def renew(self):
        with self.lock:
            slots = list(self.slots.values())
        by_store = {}
        for slot in slots:
            by_store.setdefault(id(slot.store), (slot.store, []))[1].append(slot)
        for chosen, held in by_store.values():
            lost = chosen.renew([(slot.name, slot.token) for slot in held], settings.STREAM_SLOT_LEASE_SECONDS)
            if lost:
                log.warning("%s stream slots had expired before their renewal (the store was out of reach)", lost)

    def _loop(self):
        while True:
            time.sleep(settings.STREAM_SLOT_LEASE_SECONDS / 3)
            try:
                self.renew()
            except Exception:  # the loop must outlive any one failure; the next pass tries again
                log.warning("could not renew the stream slots' leases", exc_info=True)
            finally:
                db.release_connection()  # the PostgreSQL store's renewal took one for a moment


_leases = _Leases()
