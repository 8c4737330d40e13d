"""The playground's embeddings and rerank modes against the emulator: the same wire calls as /v1/embeddings and
/v1/rerank (TEI, an OpenAI-compatible server, the hosted pipeline), a similarity matrix or a ranking back, each run
kept in history with its inputs and results, failures ending the run with the categories' words, and vector models
kept off the generation path."""

import json
import math

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from providers.huggingface.errors import wording
from providers.models import PlaygroundRun, RunStatus
from tests.conftest import create_endpoint_model, create_model
from tests.hf_emulator import fake_vector, overlap
from tests.playground.test_run_final_write import refuse_updates

pytestmark = pytest.mark.django_db

TEXTS = ["The sky is blue", "The sea is blue", "The sky is blue", "Bread rises in the oven"]
QUERY = "what is deep learning"
DOCUMENTS = ["Paris is in France", "deep learning is machine learning", "what is learning to cook"]


def events(response):
    assert response["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.content.decode().splitlines() if line.strip()]


def post(client, model, **fields):
    return client.post(reverse("playground_vectors"), {"model": model.pk, **fields})


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@pytest.fixture
def tei(hf, provider_token):
    url = hf.add_engine("bge", "tei", model_id="BAAI/bge-base-en-v1.5", batch=3)
    return create_endpoint_model(url, "bge", task="feature-extraction", path="")


@pytest.fixture
def reranker(hf, provider_token):
    url = hf.add_engine("reranker", "tei_rerank", model_id="BAAI/bge-reranker-base")
    return create_endpoint_model(url, "reranker", task="text-ranking", path="")


def test_embeddings_give_dimensions_and_each_pairs_cosine_similarity(hf, member_client, tei):
    evts = events(post(member_client, tei, texts="\n".join(TEXTS) + "\n\n  \n"))
    assert [e["type"] for e in evts] == ["start", "done"], evts
    vectors = evts[-1]["vectors"]
    assert vectors["texts"] == TEXTS and vectors["dimensions"] == 8
    matrix = vectors["similarity"]
    expected = [[round(cosine(fake_vector(a), fake_vector(b)), 4) for b in TEXTS] for a in TEXTS]
    assert matrix == [[pytest.approx(v, abs=1e-4) for v in row] for row in expected]
    assert [matrix[i][i] for i in range(4)] == [1.0] * 4 and matrix[0][2] == 1.0  # equal texts, equal vectors
    assert vectors["prompt_tokens"] is None  # TEI's own route counts no tokens: none are made up
    assert evts[-1]["figures"]["latency_ms"] > 0
    assert hf.embed_batches == [3, 1]  # split to TEI's own limit, as the API does
    run = PlaygroundRun.objects.get()
    assert (run.mode, run.status, run.prompt) == ("embeddings", RunStatus.OK, "\n".join(TEXTS))
    assert run.vectors == vectors and run.latency_ms == evts[-1]["figures"]["latency_ms"]
    assert evts[0]["run"] == run.pk


def test_an_openai_compatible_server_reports_its_input_tokens(hf, member_client, provider_token):
    url = hf.add_engine("vllm-embed", "vllm", model_id="intfloat/e5-small")
    model = create_endpoint_model(url, "e5", task="feature-extraction", path="")
    vectors = events(post(member_client, model, texts="a b\nc"))[-1]["vectors"]
    assert vectors["prompt_tokens"] == 3 and vectors["dimensions"] == 8
    assert hf.requests[-1]["path"].endswith("/v1/embeddings")


def test_the_hosted_pipeline_embeds_too(hf, member_client, provider_token):
    hf.add_model("sentence-transformers/all-MiniLM-L6-v2", pipeline_tag="sentence-similarity")
    model = create_model(
        display_name="minilm", repo_id="sentence-transformers/all-MiniLM-L6-v2", task="feature-extraction"
    )
    vectors = events(post(member_client, model, texts="one\ntwo"))[-1]["vectors"]
    assert vectors["similarity"][0][1] == pytest.approx(cosine(fake_vector("one"), fake_vector("two")), abs=1e-4)


def test_rerank_ranks_the_documents_best_first_and_keeps_them(hf, member_client, reranker):
    evts = events(post(member_client, reranker, query=QUERY, documents="\n".join(DOCUMENTS)))
    assert evts[-1]["type"] == "done", evts
    ranking = evts[-1]["vectors"]["ranking"]
    scores = [overlap(QUERY, d) for d in DOCUMENTS]
    assert [r["index"] for r in ranking] == sorted(range(3), key=lambda i: -scores[i]) == [1, 2, 0]
    assert [r["score"] for r in ranking] == [scores[1], scores[2], scores[0]]
    run = PlaygroundRun.objects.get()
    assert (run.mode, run.status, run.prompt) == ("rerank", RunStatus.OK, QUERY)
    assert run.vectors == {"query": QUERY, "documents": DOCUMENTS, "ranking": ranking, "prompt_tokens": None}
    assert hf.requests[-1]["path"].endswith("/rerank")


def test_a_run_reopens_from_history_with_its_inputs_and_results(member_client, tei):
    done = events(post(member_client, tei, texts="a\nb"))[-1]
    page = member_client.get(reverse("playground")).content.decode()
    run = PlaygroundRun.objects.get()
    assert f'class="link open-vector-run" data-url="{reverse("run_detail", args=[run.pk])}"' in page
    assert 'class="badge mode">Embeddings<' in page
    detail = member_client.get(reverse("run_detail", args=[run.pk])).json()
    assert detail["mode"] == "embeddings" and detail["vectors"] == done["vectors"]
    assert detail["figures"]["latency_ms"] == done["figures"]["latency_ms"] and detail["status"] == "ok"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_an_upstream_failure_ends_the_run_failed_in_the_categorys_words(hf, member_user, tei, language):
    hf.fault(r"/srv/bge/embed", "status", status=503, body={"error": "overloaded"}, times=5)
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(member_user)
    evts = events(post(client, tei, texts="a\nb"))
    assert [e["type"] for e in evts] == ["start", "error"]
    error = evts[-1]["error"]
    with translation.override(language):
        title, advice = wording(error["category"], "inference_endpoint")
    assert (error["title"], error["advice"]) == (title, advice) and title
    if language == "zh-hans":
        assert not title.isascii()
    run = PlaygroundRun.objects.get()
    assert run.status == RunStatus.FAILED and run.error_category == error["category"]
    assert run.vectors == {"texts": ["a", "b"]}  # what was sent stays; no result is made up
    detail = client.get(reverse("run_detail", args=[run.pk])).json()
    assert detail["error_title"] == title and detail["status"] == "failed"


def test_a_reranker_that_does_not_rank_is_a_bad_answer_not_a_crash(hf, member_client, provider_token):
    url = hf.add_engine("bge2", "tei", model_id="BAAI/bge-base-en-v1.5")
    model = create_endpoint_model(url, "not a reranker", task="text-ranking", path="")
    evts = events(post(member_client, model, query="q", documents="a\nb"))
    assert evts[-1]["type"] == "error"
    assert PlaygroundRun.objects.get().status == RunStatus.FAILED


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"texts": " \n \n"}, "texts"),
        ({"texts": "\n".join(f"t{i}" for i in range(33))}, "texts"),
    ],
)
def test_embeddings_inputs_are_checked_before_anything_is_sent(hf, member_client, tei, fields, field):
    response = post(member_client, tei, **fields)
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not PlaygroundRun.objects.exists() and not hf.embed_batches


def test_rerank_needs_a_query_and_documents(member_client, reranker):
    errors = post(member_client, reranker, query=" ", documents="").json()["errors"]
    assert set(errors) == {"query", "documents"}


def test_vector_models_stay_off_the_generation_path_and_the_reverse(hf, member_client, tei, provider_token):
    generation = create_endpoint_model(hf.base, "tgi")
    refused = member_client.post(reverse("playground_run"), {"model": tei.pk, "prompt": "hi", "max_new_tokens": "4"})
    assert refused.status_code == 400 and "model" in refused.json()["errors"]
    assert post(member_client, generation, texts="hi").status_code == 400
    assert not PlaygroundRun.objects.exists()
    assert not [r for r in hf.requests if r["path"].endswith(("/generate", "/generate_stream", "/completions"))]


def test_the_playground_offers_vector_models_and_compare_does_not(member_client, tei, reranker, provider_token):
    create_model()
    models = {m["name"]: m["task"] for m in member_client.get(reverse("playground")).context["models_json"]}
    assert models == {"bge": "feature-extraction", "reranker": "text-ranking", "flan": "text2text-generation"}
    compared = [m["name"] for m in member_client.get(reverse("compare")).context["models_json"]]
    assert compared == ["flan"]


def test_a_result_the_database_refuses_still_ends_the_run(member_client, tei):
    refuse_updates("NEW.latency_ms IS NOT NULL")  # the results cannot be written; how the run ended can
    assert events(post(member_client, tei, texts="a\nb"))[-1]["type"] == "done"
    run = PlaygroundRun.objects.get()
    assert run.status == RunStatus.OK and run.latency_ms is None
