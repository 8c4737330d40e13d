"""/v1/embeddings in OpenAI's shape and /v1/rerank in the Cohere/Jina shape, over TEI, an OpenAI-compatible server
and the Hosted Inference API: vectors in the inputs' order, base64 as openai-python asks, batches split to the
server's own limit, bounds and unknown fields refused by name, generation routes refusing vector models."""

import base64
import json
import struct

import pytest
from django.test import Client

from providers.api import keys
from providers.models import APICall
from tests.conftest import create_endpoint_model, create_model
from tests.hf_emulator import fake_vector

pytestmark = pytest.mark.django_db


def api(key):
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {key}")


def post(key, path, body):
    return api(key).post(path, json.dumps(body), content_type="application/json")


@pytest.fixture
def key(member_user):
    return keys.create(member_user, "rag")[1]


@pytest.fixture
def tei(hf, provider_token):
    url = hf.add_engine("bge", "tei", model_id="BAAI/bge-base-en-v1.5", batch=3)
    return create_endpoint_model(url, "bge", task="feature-extraction", path="")


@pytest.fixture
def reranker(hf, provider_token):
    url = hf.add_engine("reranker", "tei_rerank", model_id="BAAI/bge-reranker-base")
    return create_endpoint_model(url, "reranker", task="text-ranking", path="")


def test_tei_vectors_come_in_the_inputs_order_split_to_its_batch_limit(hf, key, tei):
    texts = [f"text number {i}" for i in range(7)]
    answer = post(key, "/v1/embeddings", {"model": tei.api_id, "input": texts}).json()
    assert [d["index"] for d in answer["data"]] == list(range(7))
    assert [d["embedding"] for d in answer["data"]] == [pytest.approx(fake_vector(t)) for t in texts]
    assert hf.embed_batches == [3, 3, 1]  # TEI said 3 at most (422), so the console asked again in threes
    assert "usage" not in answer  # TEI's native route counts no tokens: none are made up
    assert APICall.objects.get().route == "embeddings"


def test_a_single_text_and_base64_as_openai_python_sends_it(key, tei):
    answer = post(key, "/v1/embeddings", {"model": tei.api_id, "input": "hello", "encoding_format": "base64"}).json()
    raw = base64.b64decode(answer["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == pytest.approx(fake_vector("hello"), abs=1e-6)


def test_an_openai_compatible_server_gets_the_vectors_back_in_order_with_usage(hf, key, provider_token):
    url = hf.add_engine("vllm-embed", "vllm", model_id="intfloat/e5-small")
    model = create_endpoint_model(url, "e5", task="feature-extraction", path="")
    answer = post(key, "/v1/embeddings", {"model": model.api_id, "input": ["a b", "c"], "dimensions": 4}).json()
    assert [d["embedding"] for d in answer["data"]] == [pytest.approx(fake_vector(t, 4)) for t in ("a b", "c")]
    assert answer["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_vectors_a_server_did_not_shorten_to_the_asked_dimensions_are_refused(hf, key, provider_token, encoding):
    # The answer is otherwise passed on as written: its vectors are still counted when dimensions were asked for.
    url = hf.add_engine("vllm-embed", "vllm", model_id="intfloat/e5-small")
    model = create_endpoint_model(url, "e5", task="feature-extraction", path="")
    vector = [0.5] * 8
    encoded = base64.b64encode(struct.pack("<8f", *vector)).decode() if encoding == "base64" else vector
    unshortened = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": encoded}],
        "model": "intfloat/e5-small",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    hf.fault(r"/v1/embeddings$", "status", status=200, body=unshortened)
    body = {"model": model.api_id, "input": ["a"], "dimensions": 4, "encoding_format": encoding}
    refused = post(key, "/v1/embeddings", body)
    assert refused.status_code == 502, refused.content
    assert "did not shorten its vectors to 4" in refused.json()["error"]["message"]


def test_the_hosted_api_pipeline_pooled_and_token_level(hf, key, provider_token):
    hf.add_model("sentence-transformers/all-MiniLM-L6-v2", pipeline_tag="sentence-similarity")
    pooled = create_model(
        display_name="minilm", repo_id="sentence-transformers/all-MiniLM-L6-v2", task="feature-extraction"
    )
    answer = post(key, "/v1/embeddings", {"model": pooled.api_id, "input": "one text"}).json()
    assert answer["data"][0]["embedding"] == pytest.approx(fake_vector("one text"))
    hf.add_model("facebook/bart-base", pipeline_tag="feature-extraction", backend="transformers")
    tokens = create_model(display_name="bart", repo_id="facebook/bart-base", task="feature-extraction")
    answer = post(key, "/v1/embeddings", {"model": tokens.api_id, "input": ["two words"]}).json()
    mean = [(a + b) / 2 for a, b in zip(fake_vector("two"), fake_vector("words"), strict=True)]
    assert answer["data"][0]["embedding"] == pytest.approx(mean)  # mean-pooled over its tokens
    refused = post(key, "/v1/embeddings", {"model": tokens.api_id, "input": "x", "dimensions": 4})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "dimensions"


def test_rerank_in_the_cohere_shape_best_first_with_top_n_and_documents(key, reranker):
    docs = ["Paris in France", "Deep learning is machine learning", {"text": "learning to cook"}]
    answer = post(
        key,
        "/v1/rerank",
        {
            "model": reranker.api_id,
            "query": "what is deep learning",
            "documents": docs,
            "top_n": 2,
            "return_documents": True,
        },
    ).json()
    assert [r["index"] for r in answer["results"]] == [1, 2]
    assert answer["results"][0]["document"] == {"text": "Deep learning is machine learning"}
    assert answer["results"][0]["relevance_score"] > answer["results"][1]["relevance_score"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "truncate": True}, "truncate"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": []}, "input"),
        ({"input": [" "]}, "input"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": ["x"] * 513}, "input"),
    ],
)
def test_what_cannot_be_carried_is_refused_by_name(key, tei, body, param):
    response = post(key, "/v1/embeddings", {"model": tei.api_id, **body})
    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_generation_routes_refuse_a_vector_model_and_vector_routes_a_generation_model(key, tei, reranker, hf):
    chat = post(key, "/v1/chat/completions", {"model": tei.api_id, "messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 400 and "/v1/embeddings" in chat.json()["error"]["message"]
    hub_style = post(key, f"/v1/models/{reranker.api_id}", {"inputs": "hi"})  # huggingface_hub's feature_extraction
    assert hub_style.status_code == 400 and hub_style.json()["error"]["code"] == "model_not_generative"
    wrong = post(key, "/v1/embeddings", {"model": reranker.api_id, "input": "x"})
    assert wrong.status_code == 400 and "/v1/rerank" in wrong.json()["error"]["message"]
    assert not [r for r in hf.requests if r["path"].endswith("/generate") or r["path"].endswith("/completions")]


def test_models_say_their_task(key, tei, reranker):
    tasks = {m["id"]: m["task"] for m in api(key).get("/v1/models").json()["data"]}
    assert tasks == {tei.api_id: "feature-extraction", reranker.api_id: "text-ranking"}


def test_huggingface_hub_feature_extraction_and_sentence_similarity_at_the_model_url(key, tei, hf):
    vectors = post(key, f"/v1/models/{tei.api_id}", {"inputs": "hi"})
    assert vectors.status_code == 200 and vectors.json() == [pytest.approx(fake_vector("hi"))]
    texts = ["a", "b"]
    assert post(key, f"/v1/models/{tei.api_id}", {"inputs": texts}).json() == [
        pytest.approx(fake_vector(t)) for t in texts
    ]
    pair = {"inputs": {"source_sentence": "a", "sentences": ["a", "b"]}, "parameters": {}}
    scores = post(key, f"/v1/models/{tei.api_id}", pair).json()
    same = sum(x * y for x, y in zip(fake_vector("a"), fake_vector("b"), strict=True))
    assert scores == [pytest.approx(1.0, abs=1e-5), pytest.approx(same, abs=1e-5)]
    refused = post(key, f"/v1/models/{tei.api_id}", {"inputs": "hi", "truncate": True})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "truncate"
    assert APICall.objects.filter(route="embeddings").count() == 4
    assert not [r for r in hf.requests if r["path"].endswith("/generate") or r["path"].endswith("/completions")]


def test_the_total_bytes_of_one_call_are_bounded_with_a_400_naming_the_field(key, tei, reranker, settings, hf):
    settings.API_EMBED_MAX_TOTAL_BYTES = 1000
    fits = post(key, "/v1/embeddings", {"model": tei.api_id, "input": ["é" * 100] * 5})  # 1,000 bytes
    assert fits.status_code == 200
    over = post(key, "/v1/embeddings", {"model": tei.api_id, "input": ["é" * 100] * 5 + ["x"]})
    assert over.status_code == 400 and over.json()["error"]["param"] == "input"
    assert "1,000 bytes" in over.json()["error"]["message"]
    ids = post(key, "/v1/embeddings", {"model": tei.api_id, "input": [[1] * 251]})  # 4 bytes an id
    assert ids.status_code == 400 and ids.json()["error"]["code"] == "input_too_large"
    documents = ["d" * 400, "e" * 400]
    rerank = post(key, "/v1/rerank", {"model": reranker.api_id, "query": "q" * 201, "documents": documents})
    assert rerank.status_code == 400 and rerank.json()["error"]["param"] == "documents"
    assert hf.embed_batches == [3, 2]  # only the call that fits reached the server (split to its limit of 3)
    assert not [r for r in hf.requests if r["path"].endswith("/rerank")]
