"""A llama.cpp server of the team's own, as Test connection, the playground and /v1/ explain it: loading is
loading, advice names the field that fixes it, the context is the one served, and its own parameter rules apply."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from providers.api import keys
from providers.models import PlaygroundRun
from tests.conftest import create_endpoint_model
from tests.hf_emulator import Emulator

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_server(hf, settings, provider_token):
    """A second emulator, on another port: its /srv/ servers are the team's own, not on Hugging Face's hosts
    (the first one also answers as the Hub and the router, so its origin is Hugging Face's here)."""
    settings.PROVIDER_TOKEN_HOSTS = []
    server = Emulator().start()
    yield server
    server.stop()


def llama_model(hf, name="llama", engine="", token=None, **server):
    url = hf.add_engine(name, "llamacpp", model_id="../models/Llama-3.2-1B-Q4_K_M.gguf", **server)
    return create_endpoint_model(url, display_name=name, path="", engine=engine, token=token)


def test_a_loading_llama_cpp_server_is_loading_not_a_paused_endpoint(own_server, admin_client, member_client):
    model = llama_model(own_server, loading=True)
    result = admin_client.post(reverse("model_test", args=[model.pk])).json()
    assert result["ok"] is False and result["category"] == "model_loading"
    assert "dashboard" not in result["advice"]
    response = member_client.post(reverse("playground_run"), run_data(model))
    events = [json.loads(line) for line in response.content.decode().splitlines() if line.strip()]
    assert events[-1]["error"]["category"] == "model_loading"


def test_a_refused_key_names_the_models_own_api_token_field(own_server, admin_client):
    model = llama_model(own_server, api_key="sk-llama-secret", token="sk-wrong-key")
    result = admin_client.post(reverse("model_test", args=[model.pk])).json()
    assert result["category"] == "invalid_token"
    assert "“API token” field" in result["advice"] and "huggingface.co" not in result["advice"]


def test_a_refused_connection_advises_checking_the_server_at_that_address(own_server, member_user):
    model = create_endpoint_model("http://127.0.0.1:9", display_name="down", path="")
    key = keys.create(member_user, "script")[1]
    body = {"model": model.api_id, "prompt": "Once", "max_tokens": 2}
    answer = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
        "/v1/completions", json.dumps(body), content_type="application/json"
    )
    error = answer.json()["error"]
    assert error["category"] == "connection_refused"
    assert "server at this address is running" in error["fix"] and "huggingface.co" not in error["fix"]


def test_the_context_shown_is_the_one_the_server_serves(own_server, admin_client):
    model = llama_model(own_server, n_ctx=2048)  # trained on 131072 (its /v1/models says so)
    result = admin_client.post(reverse("model_test", args=[model.pk])).json()
    assert result["ok"] is True, result
    assert result["server_info"]["engine"] == "llamacpp" and result["server_info"]["context_length"] == 2048


def run_data(model, **fields):
    return {"model": model.pk, "prompt": "Why is the sky blue", "max_new_tokens": "4", **fields}


def test_tgi_parameter_rules_are_not_applied_to_a_llama_cpp_text_model(own_server, member_client):
    model = llama_model(own_server, engine="llamacpp")  # as a Test connection leaves it
    response = member_client.post(reverse("playground_run"), run_data(model, temperature="0", top_p="1"))
    assert response.status_code == 200, response.content
    sent = json.loads(own_server.requests[-1]["body"])
    assert sent["temperature"] == 0 and sent["top_p"] == 1
    assert PlaygroundRun.objects.get().status == "ok"


def test_tgi_still_refuses_what_tgi_refuses(hf, member_client, endpoint_model):
    response = member_client.post(reverse("playground_run"), run_data(endpoint_model, temperature="0"))
    assert response.status_code == 400
    assert "strictly positive" in response.json()["errors"]["temperature"][0]["message"]


def test_a_failure_mid_stream_advises_reading_the_servers_logs(own_server, member_client):
    model = llama_model(own_server, engine="llamacpp")
    own_server.fault("/srv/llama/v1/completions", "stream_error", after=2)
    response = member_client.post(reverse("playground_run"), run_data(model, stream="on"))
    error = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()][-1]["error"]
    assert error["category"] == "upstream_error"
    assert error["advice"] == "Try again; if it persists, read the server's logs."
