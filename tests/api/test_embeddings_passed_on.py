"""An OpenAI-compatible server's embeddings answer that needs nothing rewritten but its model name is passed on as
the server wrote it, in the caller's encoding (parsing and printing 64 vectors of 384 numbers cost several times the
rest of the call); anything else is read and written again: vectors out of order, a server that answers floats to a
base64 request or refuses base64, numbers JSON does not have."""

import base64
import json
import struct

import pytest
import requests
from django.test import Client

from providers.api import keys
from tests.conftest import create_endpoint_model
from tests.hf_emulator import fake_vector

pytestmark = pytest.mark.django_db
TEXTS = ["alpha", "beta", "gamma"]


@pytest.fixture
def key(member_user):
    return keys.create(member_user, "rag")[1]


def server(hf, name, **options):
    url = hf.add_engine(name, "vllm", model_id="intfloat/e5-small", **options)
    create_endpoint_model(url, name, task="feature-extraction", path="")
    return url


def embed(key, model, **fields):
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {"model": model, "input": TEXTS, **fields}
    return client.post("/v1/embeddings", json.dumps(body), content_type="application/json")


def direct(url, encoding):
    """What the server itself answers the console's request, its model name made the console's."""
    answer = requests.post(
        url + "/v1/embeddings", json={"model": "intfloat/e5-small", "input": TEXTS, "encoding_format": encoding}
    )
    return answer.content.replace(b'"model": "intfloat/e5-small"', b'"model": "fast"')


def same(got, want):
    return len(got) == len(want) and all(g == pytest.approx(w, abs=1e-6) for g, w in zip(got, want, strict=True))


def floats(item):
    vector = item["embedding"]
    if isinstance(vector, str):
        raw = base64.b64decode(vector)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return vector


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_an_answer_in_order_and_in_the_asked_encoding_is_passed_on_as_written(hf, key, provider_token, encoding):
    url = server(hf, "fast", vectors_in_order=True)
    answer = embed(key, "fast", encoding_format=encoding)
    assert answer.status_code == 200, answer.content
    assert answer.content == direct(url, encoding)  # byte for byte, but the model's name
    assert answer["Content-Length"] == str(len(answer.content))
    sent = json.loads(hf.requests[-2]["body"])  # the console's request (the last is the test's own)
    assert sent["encoding_format"] == encoding
    assert same([floats(d) for d in answer.json()["data"]], [fake_vector(t) for t in TEXTS])


def test_a_base64_request_to_a_server_that_answers_floats_is_encoded_by_the_console(hf, key, provider_token):
    server(hf, "floats", vectors_in_order=True, base64="ignored")
    answer = embed(key, "floats", encoding_format="base64").json()
    assert all(isinstance(d["embedding"], str) for d in answer["data"])
    assert same([floats(d) for d in answer["data"]], [fake_vector(t) for t in TEXTS])


def test_a_server_that_refuses_base64_is_asked_again_in_floats(hf, key, provider_token):
    server(hf, "nob64", vectors_in_order=True, base64="refused")
    answer = embed(key, "nob64", encoding_format="base64")
    assert answer.status_code == 200, answer.content
    assert same([floats(d) for d in answer.json()["data"]], [fake_vector(t) for t in TEXTS])
    assert [json.loads(r["body"])["encoding_format"] for r in hf.requests if r["path"].endswith("/embeddings")] == [
        "base64",
        "float",
    ]


def test_vectors_out_of_order_are_put_in_order(hf, key, provider_token):
    server(hf, "reversed")  # the emulator's default: reversed, the index saying which is which
    answer = embed(key, "reversed", encoding_format="float").json()
    assert [d["index"] for d in answer["data"]] == [0, 1, 2]
    assert same([d["embedding"] for d in answer["data"]], [fake_vector(t) for t in TEXTS])
    assert answer["model"] == "reversed"


def test_numbers_json_does_not_have_are_not_passed_on(hf, key, provider_token):
    server(hf, "nan", vectors_in_order=True, vector_text=b"[0.5, NaN, 0.1]")
    answer = embed(key, "nan", encoding_format="float")
    assert answer.status_code == 502 and b"NaN" not in answer.content


@pytest.mark.parametrize("vector_text", [b"[]", b"[ ]"])
def test_an_empty_vector_is_not_passed_on(hf, key, provider_token, vector_text):
    server(hf, "empty", vectors_in_order=True, vector_text=vector_text)
    answer = embed(key, "empty", encoding_format="float")
    assert answer.status_code == 502, answer.content
