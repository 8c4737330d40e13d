"""Per-key limits that hold across the worker processes of one machine: requests per minute, open streams.

The counters live in small files under API_LIMITS_DIR, guarded by flock(2): the kernel serialises the
processes, a lock is held for microseconds, and a stream's slot is a lock held for the stream's life, which
the kernel releases when its process dies, so a killed worker never leaks a slot. The README says why not the
database or the cache.
"""

import errno
import fcntl
import glob
import logging
import math
import os
import random
import stat
import time

from django.conf import settings

_WIDTH = 32  # the rate file holds one number, written in place at a fixed width
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
log = logging.getLogger(__name__)


class Limited(Exception):
    def __init__(self, code, retry_after):
        self.code = code  # "rate_limit_exceeded" or "too_many_streams"
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(code)


def _open(path, retry=True):
    """The counter file, never through a link: in a folder others could write to (API_LIMITS_DIR set outside
    the private DATA_DIR), a planted symlink or hard link would make the console overwrite a file of its own
    user. Such a link is removed and the file created afresh (O_EXCL: a link planted again meanwhile fails)."""
    try:
        fd = os.open(path, _FLAGS, 0o600)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        fd = None
    if fd is not None:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and info.st_uid == os.geteuid():
            return fd
        os.close(fd)
    log.warning("API limits: %s was a link or not the console's own file; replaced", path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # another process replaced it first
    try:
        return os.open(path, _FLAGS | os.O_EXCL, 0o600)
    except FileExistsError:
        if retry:
            return _open(path, retry=False)  # another process created it meanwhile: check that one once more
        raise


def _folder():
    folder = settings.API_LIMITS_DIR
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


def _path(caller, suffix):
    return os.path.join(_folder(), f"key-{caller.key_id}-{caller.prefix}.{suffix}")


def _owner_path(caller, suffix):
    return os.path.join(_folder(), f"owner-{caller.owner_id}.{suffix}")


def _counters(caller, key_limit, owner_limit, suffix):
    """[(path, limit)] this call counts against: the key's own, then its owner's (all of the person's keys
    together, at the lowest limit an admin set on any of them), so a fresh key does not escape a lowered one."""
    found = [(_path(caller, suffix), key_limit)] if key_limit > 0 else []
    if owner_limit:
        found.append((_owner_path(caller, suffix), owner_limit))
    return found


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
    60/rate seconds, with the exact wait in the refusal. The key's and its owner's counters are locked together
    (always in that order) and written only when both allow the request."""
    counters = _counters(caller, caller.requests_per_minute, caller.owner_requests_per_minute, "rate")
    fds = []
    try:
        for path, _rate in counters:
            fd = _open(path)
            fds.append(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
        now = time.time() if now is None else now
        updates, wait = [], 0.0
        for fd, (_unused, rate) in zip(fds, counters, strict=True):
            interval = 60.0 / rate
            try:
                tat = float(os.pread(fd, _WIDTH, 0) or 0)
            except ValueError:
                tat = 0.0
            tat = max(tat, now)
            wait = max(wait, tat + interval - now - 60.0)
            updates.append((fd, tat + interval))
        if wait > 1e-6:
            raise Limited("rate_limit_exceeded", wait)
        for fd, value in updates:
            os.pwrite(fd, f"{value:.6f}".ljust(_WIDTH).encode(), 0)
    finally:
        for fd in fds:
            os.close(fd)  # releases the lock


class Slot:
    """A key's stream slot (and its owner's), held until release() (or the process's end)."""

    def __init__(self, fds):
        self.fds = fds

    def release(self):
        fds, self.fds = self.fds, []
        for fd in fds:
            os.close(fd)


def _take_slot(path, limit):
    """The fd of one free slot file of `limit`, locked, or None."""
    start = random.randrange(limit)  # spread the tries so a busy key does not always probe from slot 0
    for i in range(limit):
        fd = _open(f"{path}{(start + i) % limit}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd
    return None


def open_stream(caller):
    """A Slot for one more stream of this key (and of its owner), or raise Limited."""
    taken = []
    for path, limit in _counters(caller, caller.max_streams, caller.owner_max_streams, "stream"):
        fd = _take_slot(path, limit)
        if fd is None:
            Slot(taken).release()
            raise Limited("too_many_streams", 1)
        taken.append(fd)
    return Slot(taken)
