"""/v1/ calls skip the cookie-and-session middleware yet keep what a JSON API needs (providers/api/middleware.py)."""

import json

import pytest
from django.test import Client, RequestFactory
from django.urls import resolve

from providers.api.middleware import _EXACT
from providers.models import APICall

pytestmark = pytest.mark.django_db


def test_the_exact_routes_are_the_ones_the_urlconf_resolves():
    for path, view in _EXACT.items():
        assert resolve(path).func is view


def test_every_fixed_api_route_skips_the_resolver():
    # Resolving walks every pattern of the site: /v1/embeddings, the last of them, paid ~60 µs a call for it.
    from django.urls.resolvers import RoutePattern

    from providers.urls import urlpatterns

    fixed = {
        "/" + str(p.pattern)
        for p in urlpatterns
        if isinstance(p.pattern, RoutePattern) and str(p.pattern).startswith("v1/") and "<" not in str(p.pattern)
    }
    assert fixed == set(_EXACT), fixed ^ set(_EXACT)


def test_a_call_skips_sessions_auth_and_messages_but_is_answered_and_recorded(hf, member_key, chat_model):
    c = Client(HTTP_AUTHORIZATION=f"Bearer {member_key}")
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}]}
    response = c.post("/v1/chat/completions", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "user") and not hasattr(request, "_messages")
    assert "Set-Cookie" not in str(response.headers) and "Cookie" not in response.get("Vary", "")
    assert APICall.objects.get().status == 200


def test_headers_that_matter_for_json_are_kept(member_key):
    response = Client(HTTP_AUTHORIZATION=f"Bearer {member_key}").get("/v1/models", HTTP_X_REQUEST_ID="abc-1")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "abc-1"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert "Accept-Language" in response["Vary"] and response["Content-Language"] == "en"


def test_messages_follow_the_callers_language():
    response = Client().get("/v1/models", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 401 and response["Content-Language"] == "zh-hans"
    assert response.json()["error"]["code"] == "missing_api_key"
    assert not response.json()["error"]["message"].isascii()


def test_a_foreign_host_is_refused_in_openai_shape(member_key, settings):
    settings.ALLOWED_HOSTS = ["console.example"]
    response = Client(HTTP_AUTHORIZATION=f"Bearer {member_key}").get("/v1/models", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_https_redirect_and_hsts_still_apply(member_key, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    c = Client(HTTP_AUTHORIZATION=f"Bearer {member_key}")
    assert c.get("/v1/models").status_code == 301
    response = c.get("/v1/models", secure=True)
    assert response.status_code == 200 and response["Strict-Transport-Security"].startswith("max-age=3600")


def test_a_defect_in_a_view_is_a_500_in_openai_shape_not_a_page(member_key, monkeypatch):
    def broken(generation):
        raise RuntimeError("defect")

    monkeypatch.setattr("providers.api.catalog.entries", broken)
    c = Client(HTTP_AUTHORIZATION=f"Bearer {member_key}", raise_request_exception=False)
    response = c.get("/v1/models")
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error" and "defect" not in response.content.decode()


def test_unknown_and_odd_paths_get_the_api_404():
    for path in ("/v1/nothing", "/v1", "/v1/models/a/b", "/v1/x%0Ay"):
        response = Client().get(path)
        assert response.status_code in (401, 404), path
        assert "error" in response.json(), path


def test_a_server_error_on_the_api_has_the_openai_shape(db):
    from providers.core import error_pages as errors_views

    request = RequestFactory().post("/v1/chat/completions")
    response = errors_views.server_error(request)
    assert response.status_code == 500
    error = json.loads(response.content)["error"]
    assert error["type"] == "server_error" and error["message"]
