"""Request ids (and arrival times) for logs and responses, the refusal of NUL in request fields, the first-run
redirect to the setup page, and the headers of the routes that bypass the page middleware."""

import contextvars
import logging
import os
import re
import time

from django.contrib.auth import get_user_model
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from providers.core import error_pages

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
        request_id = incoming if _SAFE_ID.match(incoming) else os.urandom(8).hex()
        request.request_id = request_id
        # Not reset on the way out: Django logs 4xx/5xx after the middleware returns, and a streamed
        # answer logs while it streams; the next request on this thread sets its own id.
        _request_id.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class RefuseNulMiddleware:
    """A NUL character in any query parameter or form field is refused here, once for every route: PostgreSQL
    cannot hold one in text (a search for it was a 500), and no field of the console has a use for it."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.data_paths = {reverse("playground_run")}  # answers JSON whatever the request accepts

    def __call__(self, request):
        if _has_nul(request.GET) or (request.method == "POST" and _has_nul(request.POST)):
            # Before the locale middleware (and the API's own chain): the caller's language is chosen here.
            with translation.override(translation.get_language_from_request(request)):
                message = _(
                    "The request contains a null character (an invisible control character), which no field "
                    "accepts. Remove it and try again."
                )
                as_json = request.path_info in self.data_paths
                return error_pages.refused(request, 400, "bad_request", message, as_json)
        return self.get_response(request)


def _has_nul(fields):
    return any("\x00" in name or any("\x00" in value for value in values) for name, values in fields.lists())


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
