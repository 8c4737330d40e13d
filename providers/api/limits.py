"""Per-key limits that hold across the worker processes of one machine: requests per minute, open streams.

The counters live in small files under API_LIMITS_DIR, guarded by flock(2): the kernel serialises the
processes, a lock is held for microseconds, and a stream's slot is a lock held for the stream's life, which
the kernel releases when its process dies, so a killed worker never leaks a slot. The README says why not the
database or the cache.
"""

import fcntl
import glob
import math
import os
import random
import time

from django.conf import settings

_WIDTH = 32  # the rate file holds one number, written in place at a fixed width


class Limited(Exception):
    def __init__(self, code, retry_after):
        self.code = code  # "rate_limit_exceeded" or "too_many_streams"
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(code)


def _path(caller, suffix):
    folder = settings.API_LIMITS_DIR
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, f"key-{caller.key_id}-{caller.prefix}.{suffix}")


def forget(key_id, prefix):
    """Remove a revoked key's counters (a stream still holding its slot keeps the open file until it ends)."""
    for path in glob.glob(
        os.path.join(glob.escape(str(settings.API_LIMITS_DIR)), f"key-{key_id}-{glob.escape(prefix)}.*")
    ):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def take_request(caller, now=None):
    """Count one request, or raise Limited. A generic cell rate: `rate` at once from idle, then one every
    60/rate seconds, with the exact wait in the refusal."""
    rate = caller.requests_per_minute
    if rate <= 0:
        return
    interval = 60.0 / rate
    fd = os.open(_path(caller, "rate"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        now = time.time() if now is None else now
        try:
            tat = float(os.pread(fd, _WIDTH, 0) or 0)
        except ValueError:
            tat = 0.0
        tat = max(tat, now)
        if tat + interval - now > 60.0 + 1e-6:
            raise Limited("rate_limit_exceeded", tat + interval - now - 60.0)
        os.pwrite(fd, f"{tat + interval:.6f}".ljust(_WIDTH).encode(), 0)
    finally:
        os.close(fd)  # releases the lock


class Slot:
    """One of a key's stream slots, held until release() (or the process's end)."""

    def __init__(self, fd):
        self.fd = fd

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _NoSlot:
    def release(self):
        pass


def open_stream(caller):
    """A Slot for one more stream of this key, or raise Limited."""
    limit = caller.max_streams
    if limit <= 0:
        return _NoSlot()
    start = random.randrange(limit)  # spread the tries so a busy key does not always probe from slot 0
    for i in range(limit):
        fd = os.open(_path(caller, f"stream{(start + i) % limit}"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(fd)
    raise Limited("too_many_streams", 1)
