"""The model picker for embeddings and rerank: the Hub searched under feature-extraction and sentence-similarity
(joined, each model once, paged per tag) or text-ranking; a choice fills the endpoint type that serves the task."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def search(client, q, task, **extra):
    response = client.get(reverse("hub_model_search"), {"q": q, "task": task, **extra})
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def vectors(hf):
    def add(repo, tag, downloads, **kwargs):
        hf.add_model(repo, pipeline_tag=tag, **kwargs)["downloads"] = downloads

    add("BAAI/bge-base-en-v1.5", "feature-extraction", 900, providers={"hf-inference": "live"})
    add("BAAI/bge-m3", "sentence-similarity", 950, warm=False)
    add(
        "BAAI/bge-large-en-v1.5",
        "feature-extraction",
        500,
        warm=False,
        providers={"together": {"status": "live", "task": "feature-extraction", "providerId": "bge-large"}},
    )
    add("BAAI/bge-reranker-v2-m3", "text-ranking", 800, warm=False)
    add("sentence-transformers/all-MiniLM-L6-v2", "sentence-similarity", 2000, providers={"hf-inference": "live"})
    add("BAAI/bge-chat", "text-generation", 5000)  # another task: never listed for embeddings
    return hf


def test_bge_finds_embedding_models_of_both_tags_by_downloads(vectors, admin_client, provider_token):
    answer = search(admin_client, "bge", "feature-extraction")
    assert [r["id"] for r in answer["results"]] == ["BAAI/bge-m3", "BAAI/bge-base-en-v1.5", "BAAI/bge-large-en-v1.5"]
    fills = {r["id"]: r["fill"] for r in answer["results"]}
    assert fills["BAAI/bge-base-en-v1.5"]["endpoint_type"] == "hosted_api"  # warm on hf-inference
    assert fills["BAAI/bge-large-en-v1.5"]["endpoint_type"] == "inference_providers"  # together computes it
    assert fills["BAAI/bge-m3"]["endpoint_type"] == "inference_endpoint"  # served by no one: deploy it
    assert {f["task"] for f in fills.values()} == {"feature-extraction"}
    large = next(r for r in answer["results"] if r["id"] == "BAAI/bge-large-en-v1.5")
    assert [p["provider"] for p in large["providers"]] == ["together"]
    tags = sorted(
        r["path"].split("pipeline_tag=")[1].split("&")[0] for r in vectors.requests if "/api/models?" in r["path"]
    )
    assert tags == ["feature-extraction", "sentence-similarity"]
    assert not [r for r in vectors.requests if r["path"] == "/router/v1/models"]  # chat-only catalog not read


def test_minilm_is_found_under_sentence_similarity(vectors, admin_client, provider_token):
    answer = search(admin_client, "MiniLM", "feature-extraction")
    assert [(r["id"], r["fill"]["endpoint_type"]) for r in answer["results"]] == [
        ("sentence-transformers/all-MiniLM-L6-v2", "hosted_api")
    ]


def test_rerankers_are_searched_under_text_ranking_and_fill_an_endpoint(vectors, admin_client, provider_token):
    answer = search(admin_client, "bge", "text-ranking")
    assert [(r["id"], r["fill"]) for r in answer["results"]] == [
        (
            "BAAI/bge-reranker-v2-m3",
            {"endpoint_type": "inference_endpoint", "task": "text-ranking", "repo_id": "BAAI/bge-reranker-v2-m3"},
        )
    ]


def test_pages_continue_per_tag_until_both_are_done(vectors, admin_client, provider_token, settings):
    from providers.huggingface import catalog

    catalog.PAGE_SIZE, saved = 1, catalog.PAGE_SIZE
    try:
        seen, cursor = [], ""
        for _page in range(5):
            answer = search(admin_client, "bge", "feature-extraction", cursor=cursor)
            seen += [r["id"] for r in answer["results"]]
            cursor = answer["next"]
            if not cursor:
                break
    finally:
        catalog.PAGE_SIZE = saved
    assert sorted(seen) == ["BAAI/bge-base-en-v1.5", "BAAI/bge-large-en-v1.5", "BAAI/bge-m3"]
    assert not cursor
