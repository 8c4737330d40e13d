"""Test connection of an embeddings or rerank model: a short text embedded (dimensions shown) or two documents
reranked; a server for another task is named as the wrong task, in plain words."""

import pytest
from django.urls import reverse

from tests.conftest import create_endpoint_model, create_model

pytestmark = pytest.mark.django_db


def run_saved(admin_client, model):
    response = admin_client.post(reverse("model_test", args=[model.pk]))
    assert response.status_code == 200
    return response.json()


def test_a_tei_embedding_endpoint_embeds_a_short_text(hf, admin_client, provider_token):
    model = create_endpoint_model(
        hf.add_engine("bge", "tei", model_id="BAAI/bge-base-en-v1.5"), "bge", task="feature-extraction", path=""
    )
    result = run_saved(admin_client, model)
    assert result["ok"] is True, result
    assert "8 dimensions" in result["sample_output"]
    assert result["server_info"]["engine"] == "tei" and result["server_info"]["context_length"] == 512


def test_a_tei_reranker_reranks_two_documents(hf, admin_client, provider_token):
    model = create_endpoint_model(hf.add_engine("rr", "tei_rerank"), "rr", task="text-ranking", path="")
    result = run_saved(admin_client, model)
    assert result["ok"] is True, result
    assert result["sample_output"].startswith("Deep learning is a k")  # the relevant document first


def test_a_reranker_configured_for_embeddings_is_the_wrong_task(hf, admin_client, provider_token):
    model = create_endpoint_model(hf.add_engine("rr", "tei_rerank"), "rr", task="feature-extraction", path="")
    result = run_saved(admin_client, model)
    assert result["ok"] is False and result["category"] == "wrong_task"
    assert "text-ranking" in result["message"]


def test_a_tgi_endpoint_configured_for_embeddings_is_the_wrong_task(hf, admin_client, provider_token):
    hf.add_endpoint("tgi")
    model = create_endpoint_model(hf.base, "tgi", task="feature-extraction")
    result = run_saved(admin_client, model)
    assert result["ok"] is False and result["category"] == "wrong_task"


def test_a_hosted_sentence_similarity_model_embeds(hf, admin_client, provider_token):
    hf.add_model(
        "sentence-transformers/all-MiniLM-L6-v2", pipeline_tag="sentence-similarity", providers={"hf-inference": "live"}
    )
    model = create_model(
        display_name="minilm", repo_id="sentence-transformers/all-MiniLM-L6-v2", task="feature-extraction"
    )
    result = run_saved(admin_client, model)
    assert result["ok"] is True, result
    assert "dimensions" in result["sample_output"]


def test_the_model_page_shows_what_the_server_said_of_its_vectors(hf, admin_client, provider_token):
    model = create_endpoint_model(
        hf.add_engine("bge", "tei", model_id="BAAI/bge-base-en-v1.5"), "bge", task="feature-extraction", path=""
    )
    page = admin_client.get(reverse("model_detail", args=[model.pk])).content.decode()
    assert 'id="vector-dimensions"' not in page  # not tested yet: nothing is known, nothing is made up
    result = run_saved(admin_client, model)
    assert result["server_info"]["pooling"] == "cls" and result["server_info"]["dimensions"] == 8
    page = admin_client.get(reverse("model_detail", args=[model.pk])).content.decode()
    assert '<dd id="vector-dimensions">8</dd>' in page
    assert "512 tokens" in page
    assert "the first (CLS) token&#x27;s vector" in page
    assert "unit length (normalised)" in page
    assert "Default parameters" not in page  # generation parameters mean nothing to an embedding model


def test_a_hosted_model_page_shows_dimensions_but_no_length_it_was_not_told(hf, admin_client, provider_token):
    hf.add_model("BAAI/bge-small-en-v1.5", pipeline_tag="feature-extraction", providers={"hf-inference": "live"})
    model = create_model(display_name="bge", repo_id="BAAI/bge-small-en-v1.5", task="feature-extraction")
    assert run_saved(admin_client, model)["ok"] is True
    page = admin_client.get(reverse("model_detail", args=[model.pk])).content.decode()
    assert '<dd id="vector-dimensions">8</dd>' in page
    assert 'id="vector-max-input"' not in page and 'id="vector-pooling"' not in page
