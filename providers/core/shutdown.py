"""This process's graceful stop: when it began, and when the streams it still serves must end so that each can
say so to its reader and be recorded before the server stops waiting (gunicorn's graceful_timeout)."""

import time

MARGIN = 3.0  # seconds kept, out of the graceful timeout, to end each stream and write its record
_state = {"since": None, "grace": 30.0}


def set_grace(seconds):
    """The seconds the server waits for open requests once told to stop (each worker, at start)."""
    _state["grace"] = float(seconds)


def begin():
    """Called from the signal handler: a plain assignment, no lock."""
    if _state["since"] is None:
        _state["since"] = time.monotonic()


def draining():
    return _state["since"] is not None


def streams_must_end():
    """The graceful stop began and its time is nearly up: a stream ends now, with its final event."""
    since = _state["since"]
    return since is not None and time.monotonic() >= since + max(_state["grace"] - MARGIN, 0.0)
