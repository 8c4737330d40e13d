"""response_format json_object and json_schema on every upstream that can constrain its output, in the dialect it
reads (TGI's {type: json, value: schema}); a 400 naming response_format where it cannot."""

import json

import pytest
from django.test import Client

from providers.models import Task
from tests.conftest import create_endpoint_model

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "degrees": {"type": "integer"}},
    "required": ["city", "degrees"],
    "additionalProperties": False,
}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "Weather", "schema": SCHEMA, "strict": True}}
ASK = [{"role": "user", "content": "Weather in Paris, as JSON"}]


def post(key, body):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.post("/v1/chat/completions", json.dumps(body), content_type="application/json")


def last_sent(hf):
    return json.loads([r for r in hf.requests if r["path"].endswith("/chat/completions")][-1]["body"])


@pytest.fixture
def tgi_chat(hf, provider_token):
    return create_endpoint_model(hf.base, display_name="tgi chat", task=Task.CHAT)


@pytest.fixture
def vllm_chat(hf, provider_token):
    hf.add_engine("vllm", "vllm")
    return create_endpoint_model(hf.base, display_name="vllm chat", task=Task.CHAT, path="/srv/vllm")


@pytest.mark.parametrize("model", ["llama-chat", "vllm-chat"])
def test_json_schema_reaches_an_openai_upstream_as_sent(hf, member_key, chat_model, vllm_chat, model):
    response = post(member_key, {"model": model, "messages": ASK, "response_format": JSON_SCHEMA})
    assert response.status_code == 200, response.content
    assert last_sent(hf)["response_format"] == JSON_SCHEMA
    choice = response.json()["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"city": "Paris", "degrees": 18}
    assert choice["finish_reason"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_is_translated_for_tgi(hf, member_key, tgi_chat, stream):
    response = post(
        member_key, {"model": "tgi-chat", "messages": ASK, "response_format": JSON_SCHEMA, "stream": stream}
    )
    assert response.status_code == 200, response.content
    assert last_sent(hf)["response_format"] == {"type": "json", "value": SCHEMA}
    if stream:
        raw = b"".join(response.streaming_content).decode()
        chunks = [json.loads(line[6:]) for line in raw.split("\n\n") if line.startswith("data: {")]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    else:
        text = response.json()["choices"][0]["message"]["content"]
    assert json.loads(text) == {"city": "Paris", "degrees": 18}


def test_json_object_is_translated_for_tgi(hf, member_key, tgi_chat):
    response = post(member_key, {"model": "tgi-chat", "messages": ASK, "response_format": {"type": "json_object"}})
    assert response.status_code == 200, response.content
    assert last_sent(hf)["response_format"] == {"type": "json", "value": {"type": "object", "properties": {}}}
    assert isinstance(json.loads(response.json()["choices"][0]["message"]["content"]), dict)


def test_huggingface_hubs_tgi_form_passes_to_tgi_as_it_is(hf, member_key, tgi_chat):
    tgi_form = {"type": "json", "value": SCHEMA}
    assert post(member_key, {"model": "tgi-chat", "messages": ASK, "response_format": tgi_form}).status_code == 200
    assert last_sent(hf)["response_format"] == tgi_form


@pytest.mark.parametrize(
    "extra",
    [
        {"response_format": {"type": "json_schema", "json_schema": {"name": "L", "schema": {"type": "array"}}}},
        {"response_format": JSON_SCHEMA, "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
    ],
)
def test_what_tgi_cannot_constrain_is_a_400_naming_response_format(hf, member_key, tgi_chat, extra):
    response = post(member_key, {"model": "tgi-chat", "messages": ASK, **extra})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "response_format"


def test_a_malformed_response_format_is_a_400(hf, member_key, chat_model):
    response = post(member_key, {"model": "llama-chat", "messages": ASK, "response_format": {"type": "yaml"}})
    assert response.status_code == 400 and response.json()["error"]["param"] == "response_format"
