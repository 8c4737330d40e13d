"""POST /v1/responses over chat completions: the request said in chat terms to the upstream, the answer and the
stream's events in the Responses API's shapes, and what needs a stored response refused by name."""

import json

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import RequestFactory

from providers.api import keys, responses
from providers.models import APICall, Task
from tests.api.calls import api, post
from tests.conftest import create_endpoint_model, create_model

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}


@pytest.fixture
def tgi_chat(hf, provider_token):
    return create_endpoint_model(hf.base, display_name="tgi chat", task=Task.CHAT)


def respond(key, body):
    return post(api(key), "/v1/responses", body)


def sent(hf):
    return json.loads([r for r in hf.requests if r["path"].endswith("/chat/completions")][-1]["body"])


def stream_events(response):
    assert response["Content-Type"] == "text/event-stream"
    raw = b"".join(response.streaming_content).decode()
    events = []
    for block in raw.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n") if line and not line.startswith(":"))
        if lines:
            event = json.loads(lines["data"])
            assert lines["event"] == event["type"]
            events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def test_text_comes_back_as_a_message_with_usage(hf, member_key, chat_model):
    response = respond(member_key, {"model": "llama-chat", "input": "Say three words", "max_output_tokens": 3})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["object"] == "response" and body["id"].startswith("resp_") and body["model"] == "llama-chat"
    (item,) = body["output"]
    assert item["type"] == "message" and item["role"] == "assistant" and item["status"] == "incomplete"
    assert item["content"][0]["type"] == "output_text" and len(item["content"][0]["text"].split()) == 3
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["usage"]["output_tokens"] == 3 and body["usage"]["total_tokens"] == 3 + body["usage"]["input_tokens"]
    assert sent(hf)["messages"] == [{"role": "user", "content": "Say three words"}]
    assert sent(hf)["max_tokens"] == 3
    call = APICall.objects.get()
    assert call.route == "responses" and call.completion_tokens == 3


def test_items_become_chat_messages_with_the_instructions_first(hf, member_key, chat_model):
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "18 degrees"},
    ]
    body = {"model": "llama-chat", "instructions": "Be brief.", "input": items, "tools": [WEATHER]}
    response = respond(member_key, body)
    assert response.status_code == 200, response.content
    assert response.json()["output"][0]["content"][0]["text"] == "The tool said: 18 degrees"
    assert response.json()["status"] == "completed"
    upstream = sent(hf)
    assert upstream["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
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
    function = {k: v for k, v in WEATHER.items() if k != "type"}
    assert upstream["tools"] == [{"type": "function", "function": function}]


@pytest.mark.parametrize("model", ["llama-chat", "tgi-chat"])
def test_a_tool_call_comes_back_as_a_function_call_item(hf, member_key, chat_model, tgi_chat, model):
    response = respond(member_key, {"model": model, "input": "Weather in Paris?", "tools": [WEATHER]})
    assert response.status_code == 200, response.content
    (item,) = response.json()["output"]
    assert item["type"] == "function_call" and item["name"] == "get_weather" and item["status"] == "completed"
    assert json.loads(item["arguments"]) == {"city": "Paris"} and item["call_id"] and item["id"].startswith("fc_")
    assert response.json()["status"] == "completed"


def test_named_tool_choice_and_json_schema_are_said_in_chat_terms(hf, member_key, chat_model):
    choice = {
        "model": "llama-chat",
        "input": "x",
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "name": "get_weather"},
    }
    assert respond(member_key, choice).status_code == 200
    assert sent(hf)["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    text = {"format": {"type": "json_schema", "name": "Weather", "schema": schema, "strict": True}}
    response = respond(member_key, {"model": "llama-chat", "input": "Weather in Paris", "text": text})
    assert json.loads(response.json()["output"][0]["content"][0]["text"]) == {"city": "Paris"}
    assert sent(hf)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Weather", "schema": schema, "strict": True},
    }
    assert response.json()["text"] == text


@pytest.mark.parametrize("model", ["llama-chat", "tgi-chat"])
def test_a_streamed_text_answer_has_the_events_in_order(hf, member_key, chat_model, tgi_chat, model):
    response = respond(member_key, {"model": model, "input": "Say four words", "max_output_tokens": 4, "stream": True})
    assert response.status_code == 200
    events = stream_events(response)
    kinds = [e["type"] for e in events]
    assert kinds[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",
    ]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert len(text.split()) == 4 and events[-4]["text"] == text
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == text and final["status"] == "incomplete"
    assert final["output"][0]["status"] == "incomplete"  # cut at max_output_tokens
    assert final["usage"]["output_tokens"] == 4
    assert APICall.objects.get().route == "responses"


@pytest.mark.parametrize("model", ["llama-chat", "tgi-chat"])
def test_a_streamed_tool_call_has_its_argument_events(hf, member_key, chat_model, tgi_chat, model):
    body = {"model": model, "input": "Weather in Paris?", "tools": [WEATHER], "stream": True}
    events = stream_events(respond(member_key, body))
    kinds = [e["type"] for e in events]
    assert kinds[2] == "response.output_item.added" and events[2]["item"]["type"] == "function_call"
    assert kinds[-3:] == ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    pieces = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert json.loads(pieces) == {"city": "Paris"} and events[-3]["arguments"] == pieces
    (item,) = events[-1]["response"]["output"]
    assert item["name"] == "get_weather" and item["arguments"] == pieces and item["call_id"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("previous_response_id", "resp_1"),
        ("store", True),
        ("background", True),
        ("include", ["reasoning.encrypted_content"]),
        ("reasoning", {"effort": "low"}),
        ("conversation", "conv_1"),
        ("service_tier", "flex"),
    ],
)
def test_what_needs_a_stored_response_or_openais_service_is_refused_by_name(hf, member_key, chat_model, field, value):
    response = respond(member_key, {"model": "llama-chat", "input": "x", field: value})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == field
    assert response.json()["error"]["code"] == "unsupported_parameter"
    assert not [r for r in hf.requests if r["path"].endswith("/chat/completions")]


def test_a_hosted_tool_is_refused_by_its_type(hf, member_key, chat_model):
    response = respond(member_key, {"model": "llama-chat", "input": "x", "tools": [{"type": "web_search"}]})
    assert response.status_code == 400 and response.json()["error"]["param"] == "tools"
    assert "web_search" in response.json()["error"]["message"]


def test_what_changes_nothing_passes(hf, member_key, chat_model):
    body = {
        "model": "llama-chat",
        "input": "x",
        "store": False,
        "include": [],
        "metadata": {"k": "v"},
        "truncation": "disabled",
    }
    response = respond(member_key, body)
    assert response.status_code == 200, response.content
    assert response.json()["metadata"] == {"k": "v"} and response.json()["store"] is False


def test_a_chat_refusal_names_the_responses_field(hf, member_key, chat_model):
    response = respond(member_key, {"model": "llama-chat", "input": "x", "max_output_tokens": -1})
    assert response.status_code == 400 and response.json()["error"]["param"] == "max_output_tokens"
    missing = respond(member_key, {"model": "nope", "input": "x"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_an_error_mid_stream_ends_it_with_response_failed(hf, member_key, chat_model):
    hf.fault("/v1/chat/completions", "stream_error", after=2)
    response = respond(member_key, {"model": "llama-chat", "input": "x", "max_output_tokens": 6, "stream": True})
    events = stream_events(response)
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) == 2
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "upstream_error"
    assert "CUDA out of memory" not in failed["error"]["message"]  # a member's key: the category's words
    assert failed["output"][0]["content"][0]["text"] == "".join(d["delta"] for d in deltas)
    assert events[-2]["type"] == "response.output_item.done"
    call = APICall.objects.get()
    assert call.route == "responses" and call.category == "upstream_error"


@pytest.fixture
def thinker(hf, provider_token):
    """A reasoning model on vLLM: its thinking comes as reasoning_content beside the answer."""
    hf.add_engine("thinker", "vllm", reasoning="Paris is in France.")
    return create_endpoint_model(hf.base, display_name="thinker", task=Task.CHAT, path="/srv/thinker")


def test_a_reasoning_models_thinking_comes_back_as_a_reasoning_item(hf, member_key, thinker):
    response = respond(member_key, {"model": "thinker", "input": "Weather in Paris?", "tools": [WEATHER]})
    assert response.status_code == 200, response.content
    reasoning, call = response.json()["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Paris is in France."}]
    assert call["type"] == "function_call"
    # Sent back with the tool's result (as the Agents SDK does), the reasoning item is left out of the chat call.
    result = {"type": "function_call_output", "call_id": call["call_id"], "output": "18 degrees"}
    again = respond(member_key, {"model": "thinker", "input": ["Weather in Paris?", reasoning, call, result]})
    assert again.status_code == 400  # a bare string is not an item
    asked = {"role": "user", "content": "Weather in Paris?"}
    again = respond(member_key, {"model": "thinker", "input": [asked, reasoning, call, result]})
    assert again.status_code == 200, again.content
    assert [m["role"] for m in sent(hf)["messages"]] == ["user", "assistant", "tool"]


def test_a_streamed_reasoning_item_comes_before_the_answer(hf, member_key, thinker):
    events = stream_events(
        respond(member_key, {"model": "thinker", "input": "x", "max_output_tokens": 3, "stream": True})
    )
    kinds = [e["type"] for e in events]
    assert kinds[2:8] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    assert events[5]["text"] == "Paris is in France." and events[7]["item"]["type"] == "reasoning"
    reasoning, message = events[-1]["response"]["output"]
    assert reasoning["content"][0]["text"] == "Paris is in France." and message["type"] == "message"
    assert [e["output_index"] for e in events if e["type"] == "response.output_text.delta"] == [1, 1, 1]


def test_a_stream_left_early_frees_its_slot_and_is_recorded(hf, member_user, chat_model):
    key, raw = keys.create(member_user, "k")
    key.max_streams = 1
    key.save()
    body = {"model": "llama-chat", "input": "x", "max_output_tokens": 8, "stream": True}
    request = RequestFactory().post(
        "/v1/responses", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    first = responses.responses(request)  # the view as the server calls it, which closes the answer itself
    assert respond(raw, body).json()["error"]["code"] == "too_many_streams"
    events = iter(first.streaming_content)
    next(events), next(events), next(events)  # created, in progress, the first item
    request_finished.disconnect(close_old_connections)  # as Django's test client does around close()
    try:
        first.close()  # the caller went away
    finally:
        request_finished.connect(close_old_connections)
    call = APICall.objects.get(status=200)
    assert call.route == "responses" and call.category == "client_closed" and call.stream
    again = respond(raw, body)
    assert again.status_code == 200
    b"".join(again.streaming_content)


@pytest.mark.parametrize("stream", [False, True])
def test_a_translated_chat_model_answers_and_names_what_it_cannot_carry(hf, member_key, provider_token, stream):
    """The hosted pipeline's chat goes through the console's own generation, not the relay."""
    create_model(
        display_name="hosted chat", endpoint_type="hosted_api", task=Task.CHAT, repo_id="openai-community/gpt2"
    )
    body = {"model": "hosted-chat", "input": "Say two words", "max_output_tokens": 2, "stream": stream}
    response = respond(member_key, body)
    assert response.status_code == 200, response.content
    final = stream_events(response)[-1]["response"] if stream else response.json()
    assert len(final["output"][0]["content"][0]["text"].split()) == 2
    refused = respond(member_key, {**body, "text": {"format": {"type": "json_object"}}})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "text.format"


def test_a_stored_response_cannot_be_read_back(hf, member_key, chat_model):
    for method in ("get", "delete"):
        answer = getattr(api(member_key), method)("/v1/responses/resp_123")
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "response_not_found"
    assert api().get("/v1/responses/resp_123").status_code == 401
