"""Per-key limits of the API: requests per minute and open streams, for the key and for all of its owner's keys
together, counted in the shared counters of `core.quotas` (exact across processes and instances)."""

from providers.core import quotas

Limited = quotas.Limited


def _key(caller):
    return f"key-{caller.key_id}-{caller.prefix}"


def _counters(caller, key_limit, owner_limit):
    """[(name, limit)] this call counts against: the key's own, then its owner's (all of the person's keys
    together, at the lowest limit an admin set on any of them), so a fresh key does not escape a lowered one."""
    found = [(_key(caller), key_limit)] if key_limit > 0 else []
    if owner_limit:
        found.append((f"owner-{caller.owner_id}", owner_limit))
    return found


def forget(key_id, prefix):
    """Drop a revoked key's counters (its owner's stay: they hold for the person's other keys)."""
    quotas.forget(f"key-{key_id}-{prefix}")


def take_request(caller):
    """Count one request against the key and its owner together, or raise Limited with the exact wait.

    Returns the x-ratelimit-*-requests headers of the tightest of them ({} when neither limits)."""
    state = quotas.take_rate(_counters(caller, caller.requests_per_minute, caller.owner_requests_per_minute))
    return headers(*state) if state else {}


def refused_headers(caller, retry_after):
    """The x-ratelimit-*-requests headers of a request the per-minute limit refused."""
    limits = [v for v in (caller.requests_per_minute, caller.owner_requests_per_minute) if v and v > 0]
    return headers(min(limits), 0, retry_after) if limits else {}


def set_headers(response, headers):
    for name, value in headers.items():
        response[name] = value


def headers(limit, left, reset):
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(left),
        "x-ratelimit-reset-requests": duration(reset),
    }


def duration(seconds):
    """A Go-style duration, as OpenAI writes its reset times: 12ms, 1.5s, 6m0s (hf-protocol.md §19.1)."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    rest = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{rest}s" if minutes else f"{rest}s"


class Slots:
    """A stream's slots (the key's and its owner's), held until release()."""

    def __init__(self, held):
        self.held = held

    def release(self):
        held, self.held = self.held, []
        for slot in held:
            slot.release()


def open_stream(caller):
    """The Slots of one more stream of this key (and of its owner), or raise Limited."""
    taken = Slots([])
    try:
        for name, limit in _counters(caller, caller.max_streams, caller.owner_max_streams):
            taken.held.append(quotas.take_slot(name, limit))
    except BaseException:
        taken.release()
        raise
    return taken
