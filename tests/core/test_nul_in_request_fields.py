"""A NUL character in any query parameter or form field is refused with a 400, the same on SQLite and
PostgreSQL (which cannot store one: a search for it was a 500), as a page, as JSON, and in /v1/'s shape."""

import pytest
from django.test import Client
from django.urls import reverse

from providers.api import keys

pytestmark = pytest.mark.django_db


def test_a_history_search_for_nul_is_a_400_page_not_a_500(member_client):
    response = member_client.get(reverse("playground"), {"q": "\x00"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="error-page"' in page and "null character" in page


def test_nul_in_a_parameter_name_is_refused_too(member_client):
    assert member_client.get(reverse("playground") + "?%00=1").status_code == 400


def test_nul_in_a_form_field_is_refused_in_the_callers_language(admin_client):
    response = admin_client.post(reverse("model_add"), {"display_name": "a\x00b"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    assert "空字符" in response.content.decode()


def test_nul_in_a_playground_run_is_a_json_400(member_client, hosted_model):
    response = member_client.post(
        reverse("playground_run"),
        {"model": hosted_model.pk, "prompt": "hi\x00"},
    )
    assert response.status_code == 400
    assert "null character" in response.json()["errors"]["__all__"][0]["message"]


def test_nul_in_an_api_query_is_a_400_in_openai_shape(member_user):
    key = keys.create(member_user, "script")[1]
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").get("/v1/models", {"x": "\x00"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and "null character" in error["message"]
