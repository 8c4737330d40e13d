"""Personal API keys: generation, the keyed hash that is all the database keeps, and the cached lookup.

A key is 256 random bits, so a fast keyed hash (HMAC-SHA256 under SECRET_KEY) is as strong as a slow password
hash would be, and costs microseconds. Keys made under a previous SECRET_KEY keep working while it is listed in
SECRET_KEY_FALLBACKS.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from providers.api import limits
from providers.core import freshness, roles
from providers.models import APIKey

KEY_PREFIX = "hfc_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8  # what lists and logs may show: "hfc_" and 8 random characters
_SALT = "providers.api.keys"
_cache = freshness.LocalCache()


def generate():
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(raw, secret=None):
    return salted_hmac(_SALT, raw, secret=secret or settings.SECRET_KEY, algorithm="sha256").hexdigest()


def _hashes(raw):
    return [key_hash(raw, secret) for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]


class TooManyKeys(Exception):
    pass


def active_keys(owner):
    now = timezone.now()
    return APIKey.objects.filter(owner=owner, revoked_at=None).exclude(expires_at__lte=now)


def create(owner, name, expires_in_days=None):
    """(APIKey, the plaintext key). The plaintext is never stored: show it once and drop it.

    Raises TooManyKeys when the owner already has API_MAX_KEYS_PER_USER usable keys (0: no cap)."""
    cap = settings.API_MAX_KEYS_PER_USER
    if cap and active_keys(owner).count() >= cap:
        raise TooManyKeys(cap)
    raw = generate()
    expires = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    key = APIKey.objects.create(
        owner=owner, name=name, prefix=raw[:PREFIX_LENGTH], key_hash=key_hash(raw), expires_at=expires
    )
    return key, raw


def revoke(key):
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])  # the save bumps freshness: every process drops the key at once
        limits.forget(key.pk, key.prefix)


@dataclass(frozen=True)
class Caller:
    """What a request needs to know about the key it came with, cached per process."""

    key_id: int
    prefix: str
    owner_id: int
    owner_name: str
    owner_active: bool
    may_use: bool
    expires_at: datetime | None
    revoked: bool
    requests_per_minute: int
    max_streams: int
    owner_requests_per_minute: int | None = None  # the lowest limit an admin set on any of the owner's keys
    owner_max_streams: int | None = None
    owner_is_admin: bool = False  # may read an upstream's own words in error messages (members get the category's)


def _load(hashes):
    key = APIKey.objects.select_related("owner").filter(key_hash__in=hashes).first()
    if key is None:
        return None
    owner = key.owner
    # An admin's lowered limit on one key holds for all of the person's keys together (revoked ones included:
    # revoking the key must not lift it); 0 on a key means that key is not limited, so it sets nothing here.
    lowest = APIKey.objects.filter(owner=owner).aggregate(
        rpm=Min("requests_per_minute", filter=Q(requests_per_minute__gt=0)),
        streams=Min("max_streams", filter=Q(max_streams__gt=0)),
    )
    return Caller(
        key_id=key.pk,
        prefix=key.prefix,
        owner_id=owner.pk,
        owner_name=owner.get_username(),
        owner_active=owner.is_active,
        may_use=owner.is_active and owner.has_perm(roles.USE_PLAYGROUND),
        expires_at=key.expires_at,
        revoked=key.revoked_at is not None,
        requests_per_minute=key.requests_per_minute
        if key.requests_per_minute is not None
        else settings.API_REQUESTS_PER_MINUTE,
        max_streams=key.max_streams if key.max_streams is not None else settings.API_MAX_STREAMS,
        owner_requests_per_minute=lowest["rpm"],
        owner_max_streams=lowest["streams"],
        owner_is_admin=owner.is_active and owner.has_perm(roles.MANAGE_PROVIDERS),
    )


def lookup(raw, generation):
    """The Caller for a presented key, or None. Known keys cost no query once warm; unknown ones are not
    cached (a flood of made-up keys must not fill the memory)."""
    if not raw.startswith(KEY_PREFIX) or len(raw) > 200:
        return None

    def load():
        caller = _load(_hashes(raw))
        if caller is None:
            raise _Unknown()  # LocalCache stores nothing when the load raises
        return caller

    try:
        return _cache.get(key_hash(raw), load, generation)
    except _Unknown:
        return None


class _Unknown(Exception):
    pass


_last_used_written = {}  # key id -> when this process last wrote last_used_at


def touch(key_id, now=None):
    """Record use, at most once a minute per key and process (a queryset update: no signal, no freshness bump)."""
    now = now or timezone.now()
    last = _last_used_written.get(key_id)
    if last is not None and now - last < timedelta(seconds=60):
        return
    _last_used_written[key_id] = now
    with transaction.atomic():
        APIKey.objects.filter(pk=key_id).update(last_used_at=now)
