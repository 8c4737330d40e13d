"""Encryption of stored secrets (Hugging Face tokens): AES-256-GCM, keys from settings, bound to their row.

Stored form: ``v1:<key id>:<urlsafe base64 of nonce || ciphertext+tag>``. The associated data is the
version, the key id and the caller's context (table, row identity, field), so a value copied to
another row or field, or relabelled with another key id, fails to decrypt instead of leaking.
"""

import base64
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

VERSION = "v1"
NONCE_BYTES = 12
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class KeyConfigError(Exception):
    """ENCRYPTION_KEYS is missing or malformed."""


class UndecryptableSecret(Exception):
    """No configured key decrypts this stored value (wrong key, tampering, or a value moved between rows)."""

    def __init__(self, key_id=None):
        self.key_id = key_id
        super().__init__("this token cannot be decrypted with the configured keys")


@dataclass(frozen=True)
class Keyring:
    primary_id: str
    keys: dict  # key id -> AESGCM


def generate_key(key_id=None):
    """A new `id:key` pair for ENCRYPTION_KEYS."""
    key_id = key_id or "k" + base64.b32encode(os.urandom(5)).decode().lower()
    return f"{key_id}:{base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def parse_keys(entries):
    """Parse `id:key` pairs; raises KeyConfigError with a message fit for an operator."""
    keys = {}
    order = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not KEY_ID_RE.match(key_id):
            raise KeyConfigError("each ENCRYPTION_KEYS entry must look like `id:base64key`")
        try:
            raw = base64.urlsafe_b64decode(encoded.encode())
        except (ValueError, TypeError):
            raise KeyConfigError(f"ENCRYPTION_KEYS entry `{key_id}` is not valid base64") from None
        if len(raw) != 32:
            raise KeyConfigError(f"ENCRYPTION_KEYS entry `{key_id}` must decode to 32 bytes")
        if key_id in keys:
            raise KeyConfigError(f"ENCRYPTION_KEYS names key id `{key_id}` twice")
        keys[key_id] = AESGCM(raw)
        order.append(key_id)
    if not keys:
        raise KeyConfigError(
            "ENCRYPTION_KEYS is not set: run `python manage.py generate_encryption_key` and put the result in it"
        )
    return Keyring(primary_id=order[0], keys=keys)


_cache = {}


def keyring():
    entries = tuple(settings.ENCRYPTION_KEYS)
    ring = _cache.get(entries)
    if ring is None:
        ring = parse_keys(entries)
        _cache.clear()
        _cache[entries] = ring
    return ring


def _aad(key_id, context):
    return f"{VERSION}|{key_id}|{context}".encode()


def shared_key_id(readers):
    """The newest of this process's keys that every reader (the key ids another instance holds) can decrypt: while
    one instance still runs without a new first key, new values stay under a key it reads. The first key when no
    key is shared (nothing better exists)."""
    ring = keyring()
    readers = [set(ids) for ids in readers]
    for key_id in ring.keys:  # in ENCRYPTION_KEYS order, newest first
        if all(key_id in ids for ids in readers):
            return key_id
    return ring.primary_id


def encrypt(plaintext, context, key_id=None):
    ring = keyring()
    key_id = key_id or ring.primary_id
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring.keys[key_id].encrypt(nonce, plaintext.encode(), _aad(key_id, context))
    return f"{VERSION}:{key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def key_id_of(stored):
    parts = stored.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == VERSION else None


def decrypt(stored, context):
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != VERSION:
        raise UndecryptableSecret()
    _, key_id, payload = parts
    key = keyring().keys.get(key_id)
    if key is None:
        raise UndecryptableSecret(key_id)
    try:
        blob = base64.urlsafe_b64decode(payload.encode())
        return key.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(key_id, context)).decode()
    except (InvalidTag, ValueError):
        raise UndecryptableSecret(key_id) from None


def needs_rotation(stored):
    return key_id_of(stored) != keyring().primary_id
