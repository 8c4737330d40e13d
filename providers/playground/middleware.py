"""The playground's run route through the middleware that has work to do for it, and no other.

A run is a signed-in POST answered with NDJSON: it needs the session, the CSRF check, the signed-in user, the
caller's language and the security headers, but never static files, flash messages, a page's CSP, the log-in
lock-out (axes acts on log-ins) or the first-run redirect (a signed-in user exists). Those cost it ~0.4 ms a
call, which a thousand streams pay a thousand times. This middleware sits right after the API's and sends the
route through a second chain built from MIDDLEWARE minus `SKIPPED`: middleware added later runs there too unless
it is named here. What the skipped ones would have added to the answer is added below.
"""

from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.urls import reverse
from django.utils.module_loading import import_string

from providers.core.middleware import forbid_framing

SKIPPED = {
    "providers.core.middleware.RequestIdMiddleware",  # already ran: it is before this one
    "providers.core.middleware.RefuseNulMiddleware",  # likewise
    "providers.api.middleware.ApiMiddleware",  # likewise
    "providers.playground.middleware.LeanRoutesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "providers.core.middleware.FirstRunSetupMiddleware",
}


class _LeanHandler(BaseHandler):
    """Django's handler with a shorter middleware list; the chain is built as BaseHandler.load_middleware builds
    it (synchronous only: the console is served by WSGI)."""

    def __init__(self, names):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for name in reversed(names):
            middleware = import_string(name)(handler)
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                self._template_response_middleware.append(middleware.process_template_response)
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler


class LeanRoutesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.lean = _LeanHandler([name for name in settings.MIDDLEWARE if name not in SKIPPED])
        self.paths = {reverse("playground_run")}

    def __call__(self, request):
        if request.path_info not in self.paths:
            return self.get_response(request)
        response = self.lean._middleware_chain(request)
        forbid_framing(response)
        return response
