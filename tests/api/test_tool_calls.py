"""Tool calling through /v1/chat/completions in OpenAI's exact shapes, whatever the upstream's: string arguments,
unique call ids, finish_reason tool_calls, a finish reason at the end of every stream, and the round trip."""

import json

import pytest
from django.test import Client

from providers.models import Task
from tests.conftest import create_endpoint_model

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ASK = [{"role": "user", "content": "Weather in Paris?"}]


def post(key, body):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.post("/v1/chat/completions", json.dumps(body), content_type="application/json")


def events(response):
    raw = b"".join(response.streaming_content).decode()
    assert raw.endswith("data: [DONE]\n\n"), raw[-300:]
    return [json.loads(line[6:]) for line in raw.split("\n\n") if line.startswith("data: {")]


def joined_calls(chunks):
    """The calls a client builds from the deltas, joining argument pieces per index (as openai-python does)."""
    calls = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for delta in choice["delta"].get("tool_calls") or []:
                call = calls.setdefault(delta["index"], {"id": None, "name": None, "arguments": ""})
                call["id"] = call["id"] or delta.get("id")
                call["name"] = call["name"] or (delta.get("function") or {}).get("name")
                call["arguments"] += (delta.get("function") or {}).get("arguments") or ""
    return calls


@pytest.fixture
def tgi_chat(hf, provider_token):
    return create_endpoint_model(hf.base, display_name="tgi chat", task=Task.CHAT)


@pytest.mark.parametrize("old_tgi", [False, True])
def test_a_tgi_tool_call_comes_back_in_openais_whole_shape(hf, member_key, tgi_chat, old_tgi):
    hf.endpoints["tgi"]["old_tools"] = old_tgi  # TGI < 3.2: arguments an object, id the integer 0
    response = post(member_key, {"model": "tgi-chat", "messages": ASK, "tools": [WEATHER]})
    assert response.status_code == 200, response.content
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"  # TGI said "stop"
    message = choice["message"]
    assert "content" in message and message["content"] is None
    (call,) = message["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}  # a JSON string, even from an object
    assert isinstance(call["id"], str) and call["id"].startswith("call_")
    again = post(member_key, {"model": "tgi-chat", "messages": ASK, "tools": [WEATHER]}).json()
    assert again["choices"][0]["message"]["tool_calls"][0]["id"] != call["id"]  # TGI numbers each from 0


@pytest.mark.parametrize("old_tgi", [False, True])
def test_a_tgi_tool_stream_has_openais_deltas_and_ends_with_a_finish_reason(hf, member_key, tgi_chat, old_tgi):
    """TGI >= 3.2 numbers its call "0" and ends without a finish reason; TGI < 3.2 streams one object with the
    grammar's raw text (wrapper, _name, end-of-turn token) as arguments."""
    hf.endpoints["tgi"]["old_tools"] = old_tgi
    body = {"model": "tgi-chat", "messages": ASK, "tools": [WEATHER], "tool_choice": "required", "stream": True}
    chunks = events(post(member_key, body))
    calls = joined_calls(chunks)
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_weather" and calls[0]["id"].startswith("call_")
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    later = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls") or []][1:]
    assert all(set(d) == {"index", "function"} for d in later)  # no name: null, no repeated id
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"  # TGI's stream ends with none
    assert all(c["id"] for c in chunks)


def test_an_openai_upstreams_tool_call_is_relayed_as_it_came(hf, member_key, chat_model):
    response = post(member_key, {"model": "llama-chat", "messages": ASK, "tools": [WEATHER], "tool_choice": "auto"})
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["id"].startswith("chatcmpl-tool-")  # the upstream's own id
    sent = json.loads([r for r in hf.requests if r["path"].endswith("/chat/completions")][-1]["body"])
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == "auto"
    stream = events(post(member_key, {"model": "llama-chat", "messages": ASK, "tools": [WEATHER], "stream": True}))
    assert json.loads(joined_calls(stream)[0]["arguments"]) == {"city": "Paris"}
    assert stream[-1]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("model", ["tgi-chat", "llama-chat"])
@pytest.mark.parametrize("stream", [False, True])
def test_the_tool_round_trip_reaches_the_model_and_its_answer_comes_back(
    hf, member_key, tgi_chat, chat_model, model, stream
):
    history = ASK + [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees"},
    ]
    response = post(member_key, {"model": model, "messages": history, "tools": [WEATHER], "stream": stream})
    assert response.status_code == 200, response.content
    if stream:
        chunks = events(response)
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    else:
        text = response.json()["choices"][0]["message"]["content"]
    assert text == "The tool said: 18 degrees"
    sent = json.loads([r for r in hf.requests if r["path"].endswith("/chat/completions")][-1]["body"])
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees"}
    arguments = sent["messages"][1]["tool_calls"][0]["function"]["arguments"]
    # TGI would store string arguments as a string of a string (§13.2); the others get them as sent.
    assert arguments == ({"city": "Paris"} if model == "tgi-chat" else '{"city":"Paris"}')


@pytest.mark.parametrize(
    "tool_choice,called",
    [("none", False), ("required", True), ({"type": "function", "function": {"name": "get_weather"}}, True)],
)
def test_tool_choice_reaches_the_upstream(hf, member_key, chat_model, tool_choice, called):
    body = {"model": "llama-chat", "messages": ASK, "tools": [WEATHER], "tool_choice": tool_choice, "max_tokens": 3}
    message = post(member_key, body).json()["choices"][0]["message"]
    assert bool(message.get("tool_calls")) is called
    sent = json.loads([r for r in hf.requests if r["path"].endswith("/chat/completions")][-1]["body"])
    assert sent["tool_choice"] == tool_choice


@pytest.mark.parametrize(
    "body,param",
    [
        ({"tools": [{"type": "function"}]}, "tools"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "other"}}}, "tool_choice"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "x"}]}]}, "messages"),
    ],
)
def test_malformed_tools_are_a_400_naming_the_field(member_key, chat_model, hf, body, param):
    response = post(member_key, {"model": "llama-chat", "messages": ASK, **body})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize("engine", ["vllm", "llamacpp"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_server_started_without_tool_calling_is_a_400_naming_tools(hf, member_key, provider_token, engine, stream):
    """vLLM answers 400 without --enable-auto-tool-choice, llama.cpp 500 with --no-jinja (§13.3, §13.5): one
    400 naming tools, which agent clients can act on, not a 502 that SDKs retry."""
    hf.add_engine(engine, engine, tools=False)
    create_endpoint_model(hf.base, display_name="server", task=Task.CHAT, path=f"/srv/{engine}")
    response = post(member_key, {"model": "server", "messages": ASK, "tools": [WEATHER], "stream": stream})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["param"] == "tools" and error["code"] == "unsupported_parameter"


def test_the_finish_the_console_adds_comes_before_the_usage_chunk(hf, member_key, tgi_chat):
    body = {"model": "tgi-chat", "messages": ASK, "tools": [WEATHER], "stream": True}
    chunks = events(post(member_key, {**body, "stream_options": {"include_usage": True}}))
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
