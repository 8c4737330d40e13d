"""The three stores of `core.quotas`, each atomic under bursts: Redis (one Lua script per decision), PostgreSQL
(row locks in one short transaction) and locked files (one machine's processes).

A store takes sorted (name, rate per minute) counters and raises Limited with the exact wait, or takes a slot
and returns its token (None when all are held). Times come from the store's own clock, the one every instance
shares, never from a machine's.
"""

import errno
import fcntl
import glob
import logging
import os
import random
import secrets
import stat
import time

from django.conf import settings
from django.db import DatabaseError, connections, transaction

from providers.core.quotas import RATE, Limited, Unavailable

log = logging.getLogger(__name__)
WINDOW = 60.0  # seconds: rates are per minute, and a full minute's allowance may come at once from idle


def choose():
    """Redis when the cache is Redis, else PostgreSQL when the database is, else files (SQLite: one machine)."""
    if settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
        from django.core.cache import caches

        cache = caches["default"]
        # The cache's own client, kept: its pool serves every request of the process (the cache object is
        # per thread or greenlet, and so would be a pool taken from it per request).
        client = cache._cache.get_client(write=True)
        return RedisStore(client, lambda kind, name: cache.make_key(f"quota:{kind}:{name}"))
    if connections["default"].vendor == "postgresql":
        return SqlStore()
    return FileStore()


def headroom(tats, counters, now):
    """(limit per minute, requests left, seconds until all are back) of the tightest counter after an event: what
    the x-ratelimit-*-requests headers say (hf-protocol.md §19.1)."""
    tightest = None
    for tat, (_name, rate) in zip(tats, counters, strict=True):
        interval = WINDOW / rate
        left = max(0, min(rate, int((now + WINDOW - tat) / interval + 1e-9)))
        state = (rate, left, max(0.0, tat - now))
        if tightest is None or (left, rate) < (tightest[1], tightest[0]):
            tightest = state
    return tightest


def _gcra(tats, counters, now):
    """The new theoretical arrival times of `counters` after one more event, or raise Limited."""
    wait, updated = 0.0, []
    for tat, (_name, rate) in zip(tats, counters, strict=True):
        interval = WINDOW / rate
        tat = max(tat, now)
        wait = max(wait, tat + interval - now - WINDOW)
        updated.append(tat + interval)
    if wait > 1e-6:
        raise Limited(RATE, wait)
    return updated


# --- Redis ---------------------------------------------------------------------------------------------------

_REDIS_RATE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local window = tonumber(ARGV[1])
local wait, tats = 0, {}
for i, key in ipairs(KEYS) do
  local interval = window / tonumber(ARGV[i + 1])
  local tat = math.max(tonumber(redis.call('GET', key)) or 0, now)
  wait = math.max(wait, tat + interval - now - window)
  tats[i] = tat + interval
end
if wait > 0.000001 then return tostring(wait) end
local state = {'0', string.format('%.6f', now)}
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.6f', tats[i]), 'PX', math.ceil((tats[i] - now) * 1000) + 1000)
  state[i + 2] = string.format('%.6f', tats[i])
end
return table.concat(state, ' ')
"""
# A key's slots: a sorted set of tokens scored by the end of their lease; expired ones are dropped first.
_REDIS_TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
local ends = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], ends, ARGV[2])
redis.call('PEXPIREAT', KEYS[1], math.ceil(ends * 1000))
return 1
"""
_REDIS_RENEW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local ends = now + tonumber(ARGV[1])
local renewed = 0
for i, key in ipairs(KEYS) do
  local score = tonumber(redis.call('ZSCORE', key, ARGV[i + 1]))
  if score and score >= now then
    redis.call('ZADD', key, 'XX', ends, ARGV[i + 1])
    redis.call('PEXPIREAT', key, math.ceil(ends * 1000))
    renewed = renewed + 1
  end
end
return renewed
"""


class RedisStore:
    leased = True

    def __init__(self, client, key):
        self.client, self.key = client, key  # key(kind, name): the Redis key of a counter
        self.scripts = {}

    def _run(self, lua, keys, args):
        import redis

        if lua not in self.scripts:
            self.scripts[lua] = self.client.register_script(lua)  # EVALSHA, loaded again after a restart
        try:
            return self.scripts[lua](keys=keys, args=args)
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {type(exc).__name__}") from exc

    def _call(self, command, *args):
        import redis

        try:
            return getattr(self.client, command)(*args)
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {type(exc).__name__}") from exc

    def take_rate(self, counters):
        keys = [self.key("rate", name) for name, _rate in counters]
        answer = self._run(_REDIS_RATE, keys, [WINDOW, *(rate for _name, rate in counters)])
        parts = (answer.decode() if isinstance(answer, bytes) else str(answer)).split()
        if float(parts[0]) > 0:
            raise Limited(RATE, float(parts[0]))
        return headroom([float(t) for t in parts[2:]], counters, float(parts[1]))

    def take_slot(self, name, limit, lease):
        token = secrets.token_hex(16)
        return token if self._run(_REDIS_TAKE, [self.key("slot", name)], [limit, token, lease]) else None

    def release(self, name, token):
        self._call("zrem", self.key("slot", name), token)

    def renew(self, held, lease):
        keys = [self.key("slot", name) for name, _token in held]
        return len(held) - int(self._run(_REDIS_RENEW, keys, [lease, *(token for _name, token in held)]))

    def forget(self, name):
        self._call("delete", self.key("rate", name), self.key("slot", name))


# --- PostgreSQL ----------------------------------------------------------------------------------------------

_CLOCK = "extract(epoch FROM clock_timestamp())::float8"
_SLOT_LOCKS = 0x51A7  # the advisory lock class of slot names (two-int locks: a key space of their own)


class SqlStore:
    leased = True

    def __init__(self, alias="default"):
        from providers.models import QuotaRate, QuotaSlot

        self.alias = alias
        self.rates, self.slots = QuotaRate._meta.db_table, QuotaSlot._meta.db_table

    def _execute(self, *statements):
        """Run each (sql, params) in one transaction: [(rows or None, rowcount)] of each."""
        try:
            with transaction.atomic(using=self.alias), connections[self.alias].cursor() as cursor:
                results = []
                for sql, params in statements:
                    cursor.execute(sql, params)
                    results.append((cursor.fetchall() if cursor.description else None, cursor.rowcount))
                return results
        except DatabaseError as exc:
            raise Unavailable(f"database: {type(exc).__name__}") from exc

    def take_rate(self, counters):
        # The upsert locks each counter's row (in name order) until the transaction ends and returns its state;
        # the update is written only when every counter allows the event.
        names = [name for name, _rate in counters]
        upsert = (
            f"INSERT INTO {self.rates} (name, tat) VALUES {', '.join(['(%s, 0)'] * len(names))} "
            f"ON CONFLICT (name) DO UPDATE SET tat = {self.rates}.tat RETURNING name, tat, {_CLOCK}"
        )
        try:
            with transaction.atomic(using=self.alias), connections[self.alias].cursor() as cursor:
                cursor.execute(upsert, names)
                rows = {name: (tat, now) for name, tat, now in cursor.fetchall()}
                now = max(now for _tat, now in rows.values())
                updated = _gcra([rows[name][0] for name in names], counters, now)
                values = ", ".join(["(%s, %s::float8)"] * len(names))
                cursor.execute(
                    f"UPDATE {self.rates} AS q SET tat = v.tat FROM (VALUES {values}) AS v(name, tat) "
                    "WHERE q.name = v.name",
                    [value for pair in zip(names, updated, strict=True) for value in pair],
                )
        except DatabaseError as exc:
            raise Unavailable(f"database: {type(exc).__name__}") from exc
        return headroom(updated, counters, now)

    def take_slot(self, name, limit, lease):
        token = secrets.token_hex(16)
        take = (
            f"WITH clock AS (SELECT {_CLOCK} AS now), "
            f"gone AS (DELETE FROM {self.slots} WHERE name = %s AND expires < (SELECT now FROM clock)) "
            f"INSERT INTO {self.slots} (token, name, expires) SELECT %s, %s, now + %s FROM clock "
            f"WHERE (SELECT count(*) FROM {self.slots} WHERE name = %s AND expires >= (SELECT now FROM clock)) < %s "
            "RETURNING token"
        )
        # Counting and inserting under READ COMMITTED would let two takers both see a free slot: a lock per
        # name, held until the transaction ends, puts them in line.
        rows = self._execute(
            (f"SELECT pg_advisory_xact_lock({_SLOT_LOCKS}, hashtext(%s))", [name]),
            (take, [name, token, name, lease, name, limit]),
        )[-1][0]
        return token if rows else None

    def release(self, name, token):
        self._execute((f"DELETE FROM {self.slots} WHERE token = %s", [token]))

    def renew(self, held, lease):
        renewed = self._execute(
            (
                f"UPDATE {self.slots} SET expires = {_CLOCK} + %s WHERE token = ANY(%s) AND expires >= {_CLOCK}",
                [lease, [token for _name, token in held]],
            )
        )[-1][1]
        return len(held) - renewed

    def forget(self, name):
        self._execute(
            (f"DELETE FROM {self.rates} WHERE name = %s", [name]),
            (f"DELETE FROM {self.slots} WHERE name = %s", [name]),
        )


# --- files under API_LIMITS_DIR -------------------------------------------------------------------------------

_WIDTH = 32  # a rate file holds one number, written in place at a fixed width
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


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
    log.warning("limits: %s was a link or not the console's own file; replaced", path)
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


class FileStore:
    """Small files under API_LIMITS_DIR, guarded by flock(2): the kernel serialises the processes, a lock is held
    for microseconds, and a slot is a lock held for the stream's life, which the kernel drops when its process
    dies. Exact across the processes of one machine, which is all SQLite serves."""

    leased = False

    def _path(self, name):
        folder = settings.API_LIMITS_DIR
        os.makedirs(folder, mode=0o700, exist_ok=True)
        return os.path.join(folder, name)

    def take_rate(self, counters):
        fds = []
        try:
            for name, _rate in counters:
                fd = _open(self._path(f"{name}.rate"))
                fds.append(fd)
                fcntl.flock(fd, fcntl.LOCK_EX)
            tats = []
            for fd in fds:
                try:
                    tats.append(float(os.pread(fd, _WIDTH, 0) or 0))
                except ValueError:
                    tats.append(0.0)
            now = time.time()
            updated = _gcra(tats, counters, now)
            for fd, value in zip(fds, updated, strict=True):
                os.pwrite(fd, f"{value:.6f}".ljust(_WIDTH).encode(), 0)
        finally:
            for fd in fds:
                os.close(fd)  # releases the lock
        return headroom(updated, counters, now)

    def take_slot(self, name, limit, lease):
        """The fd of one free slot file of `limit`, locked, or None."""
        path = self._path(f"{name}.stream")
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

    def release(self, name, token):
        os.close(token)

    def renew(self, held, lease):
        return 0  # the kernel holds a file's lock as long as its process lives

    def forget(self, name):
        """Remove the files of `name` (a stream still holding its slot keeps the open file until it ends)."""
        for path in glob.glob(os.path.join(glob.escape(str(settings.API_LIMITS_DIR)), f"{glob.escape(name)}.*")):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
