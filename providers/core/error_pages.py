"""Error pages in the console's layout (never a traceback, never request data), or the JSON error a script expects.

A request that asked for JSON or NDJSON (the playground, the test-connection button) gets
{"errors": {"__all__": [{"message": ...}]}} with the same status, so the page can show the message in place.
"""

import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from providers.core import db, quotas, unwritable


def wants_json(request):
    accept = request.headers.get("Accept", "")
    return "json" in accept or request.headers.get("X-Requested-With") == "XMLHttpRequest"


# The API's error type for each status an error page may have; /v1/ callers get OpenAI's {"error": {...}} shape.
_API_TYPES = {
    400: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
}


def _is_api(request):
    return request.path == "/v1" or request.path.startswith("/v1/")


def _page(request, status, title, message="", headers=None, as_json=False):
    if _is_api(request):
        text = message or {
            400: _("The request could not be understood."),
            403: _("This API key may not use this route."),
            404: _("This console serves /v1/models, /v1/models/<id>, /v1/chat/completions and /v1/completions only."),
        }.get(status, _("Something went wrong on our side. The error was logged; please try again."))
        error_type = _API_TYPES.get(status, "service_unavailable" if status == 503 else "server_error")
        body = {"error": {"message": str(text), "type": error_type, "param": None, "code": title}}
        response = JsonResponse(body, status=status)
        response["Cache-Control"] = "no-store"
    elif as_json or wants_json(request):
        text = message or {
            400: _("The request could not be understood."),
            403: _("You do not have permission to open this page."),
            404: _("This page does not exist."),
        }.get(status, _("Something went wrong on our side. The error was logged; please try again."))
        response = JsonResponse({"errors": {"__all__": [{"message": str(text), "code": title}]}}, status=status)
    else:
        response = render(request, "error.html", {"status": status, "title": title, "message": message}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def refused(request, status, title, message, as_json=False):
    """The error page (or JSON) for a request refused before it reached a view."""
    return _page(request, status, title, message, as_json=as_json)


def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        message = _("The request is too large (at most %(size)s MB). Shorten the prompt or the conversation.") % {
            "size": f"{limit / 1_048_576:.1f}"
        }
        return _page(request, 413, "too_large", message)
    return _page(request, 400, "bad_request")


def permission_denied(request, exception=None):
    return _page(request, 403, "forbidden")


def page_not_found(request, exception=None):
    return _page(request, 404, "not_found")


def server_error(request):
    # Django calls this inside its exception handler, so the exception being handled is at hand.
    exc = sys.exc_info()[1]
    if isinstance(exc, OperationalError) and "locked" in str(exc).lower():
        message = _("The console is busy saving other changes. Try again in a few seconds.")
        return _page(request, 503, "busy", message, headers={"Retry-After": "5"})
    if unwritable.is_full(exc):  # any write path a view does not handle itself: words, not a 500
        return _page(request, 503, "unsaved", str(unwritable.MESSAGE))
    if isinstance(exc, quotas.Unavailable):
        message = _("The console cannot reach the store that counts its limits. Try again in a few seconds.")
        return _page(request, 503, "limits_unavailable", message, headers={"Retry-After": "5"})
    if db.unreachable(exc):
        message = _("The console cannot reach its database right now. Try again in a few seconds.")
        return _page(request, 503, "database_unavailable", message, headers={"Retry-After": "2"})
    return _page(request, 500, "server_error")
