"""Embeddings of a model served by Inference Providers: the provider chosen from the Hub's mapping (the suffix's, or
the first live one the console can reach), its route through the router with the provider's id of the model, and a
refusal naming the providers when none can be reached."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from providers.api import keys
from providers.models import EndpointType, Task
from tests.conftest import create_model
from tests.hf_emulator import fake_vector

pytestmark = pytest.mark.django_db

REPO = "intfloat/multilingual-e5-large"


def post(key, body):
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.post("/v1/embeddings", json.dumps(body), content_type="application/json")


@pytest.fixture
def key(member_user):
    return keys.create(member_user, "rag")[1]


def providers_model(repo_id=REPO, name="e5"):
    return create_model(
        display_name=name, endpoint_type=EndpointType.INFERENCE_PROVIDERS, task=Task.FEATURE_EXTRACTION, repo_id=repo_id
    )


def vectors_mapping(**providers):
    return {p: {"status": "live", "task": "feature-extraction", "providerId": pid} for p, pid in providers.items()}


def test_the_first_reachable_provider_gets_the_call_with_its_own_model_id(hf, key, provider_token):
    hf.add_model(
        REPO,
        pipeline_tag="feature-extraction",
        warm=False,
        providers={"nowhere-ai": {"status": "live", "task": "feature-extraction"}, **vectors_mapping(together="e5-L")},
    )
    model = providers_model()
    answer = post(key, {"model": model.api_id, "input": ["a b", "c"]}).json()
    assert [d["embedding"] for d in answer["data"]] == [pytest.approx(fake_vector(t)) for t in ("a b", "c")]
    assert answer["usage"]["prompt_tokens"] == 3
    sent = [r for r in hf.requests if r["path"].endswith("/embeddings")]
    assert [r["path"] for r in sent] == ["/router/together/v1/embeddings"]


def test_a_provider_suffix_chooses_the_provider_and_hf_inference_is_its_pipeline(hf, key, provider_token):
    hf.add_model(
        REPO, pipeline_tag="feature-extraction", providers=vectors_mapping(**{"hf-inference": REPO, "deepinfra": "x"})
    )
    model = providers_model(REPO + ":hf-inference")
    answer = post(key, {"model": model.api_id, "input": "one"}).json()
    assert answer["data"][0]["embedding"] == pytest.approx(fake_vector("one"))
    deep = providers_model(REPO + ":deepinfra", "deep")
    wrong_id = post(key, {"model": deep.api_id, "input": "one"})  # deepinfra's id is "x": the emulator knows it
    assert wrong_id.status_code == 200
    paths = [r["path"] for r in hf.requests if "embeddings" in r["path"] or "pipeline" in r["path"]]
    assert paths == [
        f"/router/hf-inference/models/{REPO}/pipeline/feature-extraction",
        "/router/deepinfra/v1/openai/embeddings",
    ]


def test_no_reachable_provider_is_a_refusal_that_names_them(hf, key, provider_token):
    hf.add_model(
        REPO,
        pipeline_tag="feature-extraction",
        providers={"nowhere-ai": {"status": "live", "task": "feature-extraction"}},
    )
    model = providers_model()
    response = post(key, {"model": model.api_id, "input": "one"})
    assert response.status_code >= 400
    assert "nowhere-ai" in response.json()["error"]["message"]
    assert not [r for r in hf.requests if "embeddings" in r["path"] or "chat" in r["path"]]


def test_test_connection_embeds_through_the_chosen_provider(hf, admin_client, provider_token):
    hf.add_model(REPO, pipeline_tag="feature-extraction", warm=False, providers=vectors_mapping(scaleway="e5-scw"))
    model = providers_model()
    result = admin_client.post(reverse("model_test", args=[model.pk])).json()
    assert result["ok"] is True, result
    assert "8 dimensions" in result["sample_output"]
    assert [s["detail"] for s in result["steps"] if s["name"] == "Provider chosen"] == ["scaleway"]


def test_test_connection_of_a_chat_only_model_says_no_provider_computes_embeddings(hf, admin_client, provider_token):
    hf.add_model("meta-llama/Llama-3.1-8B-Instruct", providers={"together": "live"}, tags=["conversational"])
    model = providers_model("meta-llama/Llama-3.1-8B-Instruct")
    result = admin_client.post(reverse("model_test", args=[model.pk])).json()
    assert result["ok"] is False and result["category"] == "model_not_served"
    assert "Hosted Inference API" in result["advice"]
