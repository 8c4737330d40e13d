"""Writes the database refuses for want of space (SQLite's "database or disk is full", PostgreSQL's DiskFull or
"could not extend file", ENOSPC anywhere), told apart from a busy database, so that they are answered with words
and a 503 instead of a 500."""

from django.db import OperationalError
from django.utils.translation import gettext_lazy as _

_FULL = ("disk is full", "could not extend file", "no space left", "disk full", "database or disk is full")

MESSAGE = _(
    "The change could not be saved: the console's database has no space left to write it. Nothing was changed; "
    "try again once space has been freed."
)


def is_full(exc):
    """Whether a database error means its storage is full (the sqlstate 53100 of PostgreSQL included)."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == "53100" or getattr(cause, "pgcode", None) == "53100":
        return True
    text = str(exc).lower()
    return any(words in text for words in _FULL)
