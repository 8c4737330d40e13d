"""The provider token goes only to Hugging Face's own hosts (the configured Hub, router and Endpoints API,
dedicated Inference Endpoints, hosts PROVIDER_TOKEN_HOSTS adds); any other endpoint URL gets it only when an admin
ticked "send the provider token to this URL" on the model. A model's own token always goes with it."""

import json

import pytest
from django.urls import reverse

from providers.models import AuditEntry, HFModel
from tests.conftest import TOKEN, create_endpoint_model, model_form_data
from tests.hf_emulator import Emulator

pytestmark = pytest.mark.django_db


@pytest.fixture
def elsewhere(hf, settings, provider_token):
    """A server that is not Hugging Face's: a second emulator on another port, not listed in PROVIDER_TOKEN_HOSTS."""
    settings.PROVIDER_TOKEN_HOSTS = []
    server = Emulator().start()
    yield server
    server.stop()


def authorizations(server):
    return [r["headers"].get("Authorization", "") for r in server.requests]


def run(client_, model):
    response = client_.post(reverse("playground_run"), {"model": model.pk, "prompt": "Hi", "max_new_tokens": "3"})
    return [json.loads(x) for x in response.content.decode().splitlines() if x.strip()]


def test_a_server_elsewhere_gets_no_provider_token(elsewhere, member_client):
    model = create_endpoint_model(elsewhere.add_engine("vllm", "vllm"), "vllm", path="")
    assert run(member_client, model)[-1]["type"] == "done"
    assert elsewhere.requests and not any(TOKEN in a for a in authorizations(elsewhere))


def test_a_server_elsewhere_that_wants_a_token_is_told_it_got_none(elsewhere, admin_client, member_client):
    model = create_endpoint_model(elsewhere.add_engine("vllm", "vllm", api_key="sk-own"), "vllm", path="")
    result = admin_client.post(reverse("model_test", args=[model.pk])).json()
    assert result["category"] == "no_token" and "gets no token" in result["message"]
    assert "“Send the provider token to this URL”" in result["advice"]
    error = run(member_client, model)[-1]["error"]
    assert error["category"] == "no_token" and "“API token” field" in error["advice"]
    assert not any(TOKEN in a for a in authorizations(elsewhere))


def test_a_models_own_token_goes_to_its_server(elsewhere, member_client):
    model = create_endpoint_model(
        elsewhere.add_engine("vllm", "vllm", api_key="sk-own"), "vllm", path="", token="sk-own"
    )
    assert run(member_client, model)[-1]["type"] == "done"
    assert "Bearer sk-own" in authorizations(elsewhere)


def test_an_admin_may_send_the_provider_token_to_a_url(elsewhere, admin_client):
    url = elsewhere.add_engine("vllm", "vllm", api_key=TOKEN)
    response = admin_client.post(
        reverse("model_add"),
        model_form_data(
            display_name="proxy",
            endpoint_type="inference_endpoint",
            task="chat",
            repo_id="",
            endpoint_url=url,
            send_provider_token="on",
        ),
    )
    assert response.status_code == 302, response.content
    model = HFModel.objects.get(display_name="proxy")
    assert model.send_provider_token is True
    assert AuditEntry.objects.get(action="model.create").changes["send_provider_token"]["to"] is True
    assert admin_client.post(reverse("model_test", args=[model.pk])).json()["ok"] is True
    assert f"Bearer {TOKEN}" in authorizations(elsewhere)
    exported = admin_client.get(reverse("models_export")).json()["models"][0]
    assert exported["send_provider_token"] is True


def test_hugging_faces_own_hosts_get_the_provider_token(hf, settings):
    from providers.huggingface import urls

    settings.PROVIDER_TOKEN_HOSTS = ["proxy.example.org"]
    assert urls.huggingface_host("https://abc.us-east-1.aws.endpoints.huggingface.cloud/")
    assert urls.huggingface_host(settings.HF_ROUTER_URL + "/v1/chat/completions")
    assert urls.huggingface_host("https://eu.proxy.example.org/v1")
    assert not urls.huggingface_host("http://abc.us-east-1.aws.endpoints.huggingface.cloud/")  # not https
    assert not urls.huggingface_host("https://endpoints.huggingface.cloud.evil.test/")
    assert not urls.huggingface_host("http://10.0.0.5:8000/")
