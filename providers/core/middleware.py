"""Request ids (and arrival times) for logs and responses, the first-run redirect to the setup page, and the
headers of the routes that bypass the page middleware."""

import contextvars
import logging
import re
import time
import uuid

from django.contrib.auth import get_user_model
from django.shortcuts import redirect
from django.urls import reverse

_request_id = contextvars.ContextVar("request_id", default="-")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# What a data answer (JSON, NDJSON) may be: it loads nothing, and no page may frame it.
_DATA_CSP = "default-src 'none'; frame-ancestors 'none'"


def forbid_framing(response):
    """The framing and content headers the page middleware (clickjacking, CSP) would add, for a route that skips
    it (the /v1/ API, the playground's runs); a header the view set stays."""
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", _DATA_CSP)


class RequestIdLogFilter(logging.Filter):
    def filter(self, record):
        record.request_id = _request_id.get()
        return True


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.received_at = time.perf_counter()  # the first middleware: the playground's overhead counts from here
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex[:16]
        request.request_id = request_id
        # Not reset on the way out: Django logs 4xx/5xx after the middleware returns, and a streamed
        # answer logs while it streams; the next request on this thread sets its own id.
        _request_id.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class FirstRunSetupMiddleware:
    """While no account exists, every page leads to the setup page."""

    EXEMPT_PREFIXES = ("/static/", "/healthz", "/setup/", "/i18n/", "/favicon.ico", "/v1/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(self.EXEMPT_PREFIXES):
            return self.get_response(request)
        if request.user.is_authenticated or get_user_model().objects.exists():
            return self.get_response(request)
        return redirect(reverse("setup"))
