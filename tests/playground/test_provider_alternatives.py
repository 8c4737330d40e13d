"""A provider that fails or hangs gets advice naming the live providers to switch to (from the router's catalog),
in the console's words: the upstream's own reason ("Service Unavailable") and setting names reach admins only."""

import json

import pytest
from django.urls import reverse

from providers.models import PlaygroundRun
from tests.conftest import create_model

pytestmark = pytest.mark.django_db

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture
def pinned(hf, provider_token):
    """A chat model pinned to together, while groq serves it live too (and fireworks-ai is not live)."""
    hf.models[LLAMA]["inferenceProviderMapping"]["groq"] = {"status": "live", "providerId": LLAMA, "task": "chat"}
    return create_model(endpoint_type="inference_providers", task="chat", repo_id=f"{LLAMA}:together")


def run_error(client, model):
    response = client.post(reverse("playground_run"), {"model": model.pk, "prompt": "Hi", "max_new_tokens": "4"})
    body = b"".join(response.streaming_content) if response.streaming else response.content
    lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
    assert lines[-1]["type"] == "error", lines
    return lines[-1]["error"]


def test_a_failing_provider_names_the_live_alternatives_in_words_a_member_reads(hf, pinned, member_client):
    hf.fault("/v1/chat/completions", "status", times=10, status=503, body="Service Unavailable")
    error = run_error(member_client, pinned)
    assert error["advice"] == "This provider is failing. Switch to one of these providers: groq."
    assert error["message"] == "The Hugging Face service failed to answer the request."
    assert "Service Unavailable" not in json.dumps(error) and not error["admin_hint"]


def test_an_admin_also_reads_the_upstreams_own_words(hf, pinned, admin_client):
    hf.fault("/v1/chat/completions", "status", times=10, status=503, body="Service Unavailable")
    error = run_error(admin_client, pinned)
    assert error["upstream"] == "Service Unavailable" and "Service Unavailable" not in error["message"]
    assert "groq" in error["advice"]


def test_a_hanging_provider_names_them_and_the_timeout_setting_only_to_an_admin(
    hf, pinned, member_client, admin_client, settings
):
    settings.HF_GENERATION_TIMEOUT = 0.5
    hf.response_delay = 1.5
    member = run_error(member_client, pinned)
    assert member["category"] == "timeout"
    assert member["advice"] == "This provider is not answering in time. Switch to one of these providers: groq."
    assert "HF_" not in json.dumps(member)
    admin = run_error(admin_client, pinned)
    assert "HF_READ_TIMEOUT" in admin["admin_hint"] and "HF_" not in admin["advice"]


def test_test_connection_of_a_failing_provider_names_the_alternatives(hf, pinned, admin_client):
    hf.fault("/v1/chat/completions", "status", times=10, status=503, body="Service Unavailable")
    result = admin_client.post(reverse("model_test", args=[pinned.pk])).json()
    assert result["ok"] is False and "Switch to one of these providers: groq." in result["advice"]
    assert result["upstream"] == "Service Unavailable" and result["steps"][-1]["detail"] == result["message"]
    page = admin_client.get(reverse("model_detail", args=[pinned.pk])).content.decode()
    assert "Switch to one of these providers: groq." in page and "Service Unavailable" in page


def test_a_reopened_run_names_the_alternatives_too(hf, pinned, member_client):
    hf.fault("/v1/chat/completions", "status", times=10, status=503, body="Service Unavailable")
    run_error(member_client, pinned)
    run = PlaygroundRun.objects.get()
    detail = member_client.get(reverse("run_detail", args=[run.pk])).json()
    assert detail["error_advice"] == "This provider is failing. Switch to one of these providers: groq."
    assert detail["error_message"] == "The Hugging Face service failed to answer the request."
    assert not detail["error_upstream"] and not detail["error_admin_hint"]
