"""Waking a scaled-to-zero or starting Inference Endpoint for the request that needs it (hf-protocol.md §5, §9.6,
§20): the first request's 503 starts a replica; the request then goes again with X-Scale-Up-Timeout, so the
proxy holds it until the replica is ready, within HF_SCALE_UP_TIMEOUT. transport.call() decides when."""

import time

from django.conf import settings
from django.utils.translation import gettext as _

from providers.huggingface import numbers
from providers.huggingface.errors import HFError

HEADER = "X-Scale-Up-Timeout"
PAUSE = 2.0  # between two requests to a waking endpoint whose proxy answered 503 without holding the request


def budget(headers, applies):
    """(the request's headers without X-Scale-Up-Timeout, the seconds it may spend waking its endpoint): the
    header its caller asks for (Target.headers()) is taken out, as the request goes first without it. 0 where
    waking does not `apply`: only Hugging Face's endpoint proxy scales to zero and knows the header (§5, §9.6);
    any other server is asked once, as any request."""
    headers = dict(headers or {})
    value = headers.pop(HEADER, None)
    return headers, (numbers.seconds(value) or 0) if value and applies else 0


def cold(error, response):
    """The proxy's "no replica ready": scaled to zero or starting. A 502/503 that is no engine's own answer (a
    loading model, a failed health check, or any JSON error body: an engine answered, so a replica runs). The
    proxy's body is undocumented (§20); the one seen is plain text. A paused endpoint answers 400 and is never
    woken: it needs someone to resume it."""
    return (
        error.category == "endpoint_paused_or_starting"
        and error.http_status in (502, 503)
        and "json" not in response.headers.get("Content-Type", "").lower()
    )


def failed(token, url):
    """HFError("endpoint_failed") when the control plane says the endpoint behind `url` failed, else None."""
    from providers.huggingface import endpoints_api  # it calls the transport, which calls this module

    message = endpoints_api.failure_of(token, url)
    if message is None:
        return None
    return HFError(
        "endpoint_failed",
        _("The Inference Endpoint failed: %(message)s") % {"message": message[:300]},
        http_status=503,
        upstream=True,
    )


def woken(again, deadline, seconds, pause, token=None, url=""):
    """The response once the endpoint is awake. `again(hold=…)` sends the request once more with
    X-Scale-Up-Timeout: hold, returning (response, None) or (response, HFError); `pause(seconds, error)` waits
    (and raises `error` if the request was stopped meanwhile).

    A hold that expired, or a proxy that answered 503 at once, is asked again until `seconds` have passed. The
    operation's deadline grows by the time spent waking, so what comes after keeps its own time; meanwhile
    `deadline.waking_since` says so to whoever shows the wait (the playground, an API stream)."""
    failure = failed(token, url)  # a failed endpoint would be waited for in vain
    if failure is not None:
        raise failure
    started = time.monotonic()
    until = started + seconds
    deadline.seconds += seconds
    deadline.waking_since = started
    if deadline.on_wait:
        deadline.on_wait("endpoint_waking", seconds)
    try:
        while True:
            left = until - time.monotonic()
            if left <= 0:
                raise failed(token, url) or HFError(
                    "endpoint_waking",
                    _("The endpoint did not become ready within %(seconds)s seconds of waking.")
                    % {"seconds": round(seconds)},
                    http_status=503,
                )
            # At most half the read timeout: a whole answer the proxy forwards at the end of its hold still has the
            # other half to begin.
            hold = max(1, int(min(left, settings.HF_READ_TIMEOUT / 2)))
            sent = time.monotonic()
            response, error = again(hold=str(hold))
            if error is None:
                return response
            if not cold(error, response):
                raise error  # paused meanwhile, or a true failure of the awake endpoint
            if time.monotonic() - sent < hold / 2:  # a proxy that did not hold the request: not at once again
                pause(max(0.0, min(PAUSE, until - time.monotonic())), error)
    finally:
        deadline.seconds -= max(0.0, until - time.monotonic())  # the unused part of the budget
        deadline.waking_since = None
