"""/v1/ straight to its view, past the middleware a key-authenticated JSON call has no use for.

Sessions, CSRF, auth, messages, axes and the first-run redirect read cookies or a signed-in user: a call under
/v1/ carries a key instead, so they cost it ~0.3 ms and change nothing. What the API does need is kept here:
the request id (the middleware before this one), the HTTPS redirect and HSTS/nosniff/referrer headers of
SecurityMiddleware, the ALLOWED_HOSTS check, the caller's language for the messages, and headers that forbid
framing and caching. A failure still reaches Django's handler, whose error views answer /v1/ in OpenAI's shape.
"""

from django.conf import settings
from django.middleware.security import SecurityMiddleware
from django.urls import resolve
from django.utils import translation
from django.utils.cache import patch_vary_headers

from providers.api import cors, responses, vectors, views
from providers.core.middleware import forbid_framing

# The hot routes without the resolver's walk over every pattern; the rest (/v1/models/<id>, unknown paths) resolve.
_EXACT = {
    "/v1/models": views.models,
    "/v1/chat/completions": views.chat_completions,
    "/v1/completions": views.completions,
    "/v1/responses": responses.responses,
    "/v1/embeddings": vectors.embeddings,
    "/v1/rerank": vectors.rerank,
}


def is_api(path):
    return path == "/v1" or path.startswith("/v1/")


class ApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.security = SecurityMiddleware(get_response)

    def __call__(self, request):
        path = request.path_info
        if not is_api(path):
            return self.get_response(request)
        response = self.security.process_request(request)  # the HTTPS redirect, when configured
        if response is None:
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it (DisallowedHost: a 400)
            translation.activate(translation.get_language_from_request(request))
            request.LANGUAGE_CODE = translation.get_language()
            view = _EXACT.get(path)
            response = cors.preflight(request) if settings.API_CORS_ORIGINS else None  # before any key is read
            if response is None and view is None:
                match = resolve(path)
                response = match.func(request, *match.args, **match.kwargs)
            elif response is None:
                response = view(request)
        self.security.process_response(request, response)
        if settings.API_CORS_ORIGINS:
            cors.add_headers(request, response)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", translation.get_language())
        response.headers.setdefault("Cache-Control", "no-store")
        forbid_framing(response)
        if not response.streaming and "Content-Length" not in response.headers:
            # As CommonMiddleware does for pages: without it the server frames the answer as chunks (two writes
            # and a chunk parser on the caller's side for every whole answer).
            # Summed over its parts: `response.content` would join them into a copy of the whole answer.
            response.headers["Content-Length"] = str(sum(map(len, response)))
        return response
