"""An upstream's own words (internal URLs, resolver facts) reach admins only: members see the category's title,
what happened and the advice, in the playground, a run's detail, and /v1/ errors."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from providers.api import keys
from providers.models import PlaygroundRun

pytestmark = pytest.mark.django_db

INTERNAL = "backend http://10.9.8.7:8080/internal failed: worker rebind.test resolves to 127.0.0.1"


@pytest.fixture
def failing(hf, endpoint_model):
    hf.fault(r"/ep/tgi$", "status", times=5, status=500, body=json.dumps({"error": INTERNAL}))
    return endpoint_model


def run_error(client_, model):
    response = client_.post(reverse("playground_run"), {"model": model.pk, "prompt": "Hi", "max_new_tokens": "4"})
    lines = [json.loads(x) for x in response.content.decode().splitlines() if x.strip()]
    return lines[-1]["error"]


def test_a_member_sees_the_category_not_the_upstreams_words(failing, member_client):
    error = run_error(member_client, failing)
    assert error["category"] == "upstream_error" and error["title"] and error["advice"]
    assert "10.9.8.7" not in json.dumps(error) and "rebind.test" not in json.dumps(error)
    detail = member_client.get(reverse("run_detail", args=[PlaygroundRun.objects.get().pk])).json()
    assert detail["error_title"] and "10.9.8.7" not in json.dumps(detail)


def test_an_admin_also_sees_the_upstreams_detail(failing, admin_client):
    error = run_error(admin_client, failing)
    assert INTERNAL in error["upstream"] and "10.9.8.7" not in error["message"]
    detail = admin_client.get(reverse("run_detail", args=[PlaygroundRun.objects.get().pk])).json()
    assert INTERNAL in detail["error_upstream"]


@pytest.mark.parametrize("role", ["member", "admin"])
def test_api_errors_carry_the_upstreams_words_for_an_admins_key_only(failing, member_user, admin_user, role):
    owner = member_user if role == "member" else admin_user
    key = keys.create(owner, "script")[1]
    body = {"model": failing.api_id, "prompt": "Once", "max_tokens": 2}
    answer = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
        "/v1/completions", json.dumps(body), content_type="application/json"
    )
    error = answer.json()["error"]
    assert error["category"] == "upstream_error" and error["fix"]
    assert (INTERNAL in error["message"]) is (role == "admin")
    assert ("10.9.8.7" in answer.content.decode()) is (role == "admin")
