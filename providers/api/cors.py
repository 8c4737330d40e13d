"""CORS for /v1/: a browser app on an origin of API_CORS_ORIGINS may call the API with its key (off by default).
The preflight is answered before any key is read: a browser sends it without the Authorization header."""

import re

from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers

# What OpenAI's clients send (openai-js adds its x-stainless-* telemetry headers and openai-beta, the AI SDK and
# LangChain.js authorization and content-type); each asked-for header is allowed when it matches.
_ALLOWED_HEADER = re.compile(
    r"(authorization|content-type|accept|accept-language|openai-beta|openai-organization|openai-project"
    r"|x-stainless-[a-z0-9-]+|x-request-id|idempotency-key|user-agent)"
)
ALLOW_HEADERS = "authorization, content-type, openai-beta, openai-organization, openai-project, x-stainless-*"
EXPOSE_HEADERS = (
    "x-request-id, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, "
    "retry-after, retry-after-ms, x-should-retry, x-dropped-params"
)
MAX_AGE = "600"


def allowed_origin(request):
    """The value of Access-Control-Allow-Origin for this request, or None (no Origin, or one not allowed)."""
    origin = request.headers.get("Origin")
    origins = settings.API_CORS_ORIGINS
    if not origin or not origins:
        return None
    if "*" in origins:
        return "*"
    return origin if origin.rstrip("/") in origins else None


def preflight(request):
    """The answer to a CORS preflight (OPTIONS with Access-Control-Request-Method), or None for any other request."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    origin = allowed_origin(request)
    response = HttpResponse(status=204 if origin else 403)
    patch_vary_headers(response, ("Origin",))
    if origin is None:
        return response  # no Allow-Origin: the browser refuses the call, and says why in its console
    asked = [h.strip().lower() for h in request.headers.get("Access-Control-Request-Headers", "").split(",")]
    asked = [h for h in asked if h and _ALLOWED_HEADER.fullmatch(h)]
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    # The asked-for headers by name: "*" would not cover Authorization, and x-stainless-* is no header name.
    response["Access-Control-Allow-Headers"] = ", ".join(dict.fromkeys(asked)) or ALLOW_HEADERS
    response["Access-Control-Max-Age"] = MAX_AGE
    return response


def add_headers(request, response):
    origin = allowed_origin(request)
    if settings.API_CORS_ORIGINS:
        patch_vary_headers(response, ("Origin",))
    if origin is not None:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
