"""Real embedding clients against the console served by gunicorn: the `openai` package (float and base64),
LangChain's OpenAIEmbeddings in a small retrieval, and huggingface_hub's feature_extraction and
sentence_similarity at `/v1/models/<id>`, each getting the vectors the server computed (or a clear 400), never a
generation."""

import base64
import struct

import numpy
import openai
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_openai import OpenAIEmbeddings

from tests.conftest import TOKEN
from tests.hf_emulator import fake_vector, word_vector
from tests.served import Console

SETUP = """
from providers.core import roles
from providers.models import HFModel, ProviderSettings
from django.contrib.auth.models import User
roles.set_role(User.objects.create_user("mia", "mia@example.com", "{password}"), roles.MEMBER)
provider = ProviderSettings.load()
provider.set_secret("api_token", "{token}")
provider.save()
for name, task, server in (("bge", "feature-extraction", "bge"), ("e5", "feature-extraction", "e5"),
                           ("reranker", "text-ranking", "rr")):
    HFModel.objects.create(display_name=name, endpoint_type="inference_endpoint", task=task,
                           endpoint_url="{base}/srv/" + server)
"""
DOCUMENTS = [
    "Paris is the capital of France.",
    "Bananas are yellow and rich in potassium.",
    "The Rhine flows through Germany and the Netherlands.",
    "Python is a programming language with dynamic types.",
]


@pytest.fixture(scope="module")
def served(emulator, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vectors-served")
    env = {"API_LIMITS_DIR": str(tmp / "limits"), "WEB_WORKERS": "2", "WEB_THREADS": "4"}
    console = Console(emulator, tmp, SETUP, env, token=TOKEN)
    console.start()
    try:
        key = console.manage("create_api_key", "mia", "rag").strip().splitlines()[-1]
        yield {"url": console.url, "key": key}
    finally:
        console.stop()


@pytest.fixture
def servers(hf):
    """The embedding servers the models point at (the emulator is reset before each test)."""
    hf.add_engine("bge", "tei", model_id="BAAI/bge-small-en-v1.5", batch=16, words=True)
    hf.add_engine("e5", "vllm", model_id="intfloat/e5-small")
    hf.add_engine("rr", "tei_rerank", model_id="BAAI/bge-reranker-base")
    return hf


def oai(served):
    return openai.OpenAI(base_url=served["url"] + "/v1", api_key=served["key"], max_retries=0, timeout=20)


def test_openai_embeddings_base64_as_it_asks_by_default_and_float(served, servers):
    texts = [f"short text number {i}" for i in range(64)]
    answer = oai(served).embeddings.create(model="bge", input=texts)  # openai-python asks for base64 and decodes
    assert [d.index for d in answer.data] == list(range(64))
    for text, item in zip(texts, answer.data, strict=True):
        assert item.embedding == pytest.approx(word_vector(text), abs=1e-6)
    assert servers.embed_batches == [16, 16, 16, 16]  # TEI's own limit, found from its 422, joined in order
    sent = [r for r in servers.requests if r["path"] == "/srv/bge/embed"]
    assert sent  # the TEI route, not a generation
    floats = oai(served).embeddings.create(model="e5", input=["a b", "c"], encoding_format="float", dimensions=4)
    assert [d.embedding for d in floats.data] == [pytest.approx(fake_vector(t, 4)) for t in ("a b", "c")]
    assert floats.usage.prompt_tokens == 3


def test_openai_base64_decodes_to_the_servers_float32(served, servers):
    raw = oai(served).embeddings.with_raw_response.create(model="e5", input="hello", encoding_format="base64")
    encoded = raw.http_response.json()["data"][0]["embedding"]
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    assert list(decoded) == pytest.approx(fake_vector("hello"), abs=1e-6)


def test_langchain_retrieval_finds_the_document_with_the_answer(served, servers):
    # check_embedding_ctx_length=False: LangChain then sends the texts; by default it would send OpenAI's token
    # ids (tiktoken's, which another model cannot read, and which tiktoken downloads first).
    embeddings = OpenAIEmbeddings(
        model="bge", base_url=served["url"] + "/v1", api_key=served["key"], check_embedding_ctx_length=False
    )
    store = InMemoryVectorStore.from_texts(DOCUMENTS, embeddings)
    assert store.similarity_search("What is the capital of France?", k=1)[0].page_content == DOCUMENTS[0]
    assert store.similarity_search("Which river flows through Germany?", k=1)[0].page_content == DOCUMENTS[2]
    assert embeddings.embed_query("Bananas") == pytest.approx(word_vector("Bananas"), abs=1e-6)


@pytest.mark.parametrize("how", ["model", "base_url"])
def test_huggingface_hub_feature_extraction_and_sentence_similarity(served, servers, how):
    client = InferenceClient(**{how: served["url"] + "/v1/models/bge"}, token=served["key"])
    vectors = client.feature_extraction("hi")
    assert isinstance(vectors, numpy.ndarray) and vectors.shape == (1, 64)
    assert vectors[0].tolist() == pytest.approx(word_vector("hi"), abs=1e-6)
    scores = client.sentence_similarity(
        "the capital of France", ["Paris is the capital of France", "Bananas are yellow"]
    )
    assert len(scores) == 2 and scores[0] > 0.5 > scores[1]
    assert not [r for r in servers.requests if "generate" in r["path"] or "completions" in r["path"]]


def test_huggingface_hub_feature_extraction_of_a_reranker_is_a_clear_400(served, servers):
    client = InferenceClient(model=served["url"] + "/v1/models/reranker", token=served["key"])
    with pytest.raises(HfHubHTTPError) as refused:
        client.feature_extraction("hi")
    assert refused.value.response.status_code == 400
    assert "/v1/rerank" in str(refused.value)
    assert not [r for r in servers.requests if r["path"].startswith("/srv/rr/")]
