"""What an OpenAI-compatible upstream answers reaches the caller as it came: token events byte for byte (not
decoded and re-encoded), system_fingerprint, logprobs, refusal and extra finish reasons; usage counts are whole
numbers or absent, never null, and no usage chunk of unknown counts is sent."""

import json

import pytest
from django.test import Client

from providers.models import APICall, Task
from tests.conftest import create_endpoint_model

ASK = [{"role": "user", "content": "hi"}]


def post(key, path, body):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.post(path, json.dumps(body), content_type="application/json")


@pytest.fixture
def vllm_chat(hf, provider_token):
    hf.add_engine("vllm", "vllm")
    return create_endpoint_model(hf.base, display_name="vllm chat", task=Task.CHAT, path="/srv/vllm")


def test_token_events_are_relayed_byte_for_byte(hf, member_key, vllm_chat):
    body = {"model": "vllm-chat", "messages": ASK, "max_tokens": 4, "stream": True, "logprobs": True}
    raw = b"".join(post(member_key, "/v1/chat/completions", body).streaming_content)
    events = [line for line in raw.split(b"\n\n") if line.startswith(b"data: {")]
    # The emulator writes compact JSON (separators without spaces); a decoded and re-encoded event would not be.
    middle = events[:-1]  # the first too, although it is read for its id
    assert middle and all(b'"delta":{"role":"assistant","content":' in e for e in middle)
    assert all(b'"system_fingerprint":"3.2.1-native"' in e and b'"logprobs":{"content":' in e for e in middle)
    assert b'"usage"' not in raw  # the console asked for usage itself; the caller did not
    assert APICall.objects.get().completion_tokens == 4  # and counted it all the same


def test_a_refusal_and_an_engines_own_finish_reason_reach_the_caller(hf, member_key, vllm_chat):
    answer = {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 1,
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "system_fingerprint": "fp_1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": "I cannot help with that."},
                "finish_reason": "content_filter",
                "stop_reason": 128009,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }
    hf.fault(r"/srv/vllm/v1/chat/completions", "status", status=200, body=answer)
    response = post(member_key, "/v1/chat/completions", {"model": "vllm-chat", "messages": ASK})
    assert response.json() == answer


def test_null_usage_counts_are_left_out_of_a_whole_answer(hf, member_key, vllm_chat):
    answer = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": None, "completion_tokens": 2, "total_tokens": None},
    }
    hf.fault(r"/srv/vllm/v1/chat/completions", "status", status=200, body=answer)
    response = post(member_key, "/v1/chat/completions", {"model": "vllm-chat", "messages": ASK})
    assert response.json()["usage"] == {"completion_tokens": 2}


def test_a_usage_chunk_of_null_counts_is_not_sent(hf, member_key, vllm_chat):
    stream = (
        'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        '"delta":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}]}\n\n'
        'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[],'
        '"usage":{"prompt_tokens":null,"completion_tokens":null,"total_tokens":null}}\n\n'
        "data: [DONE]\n\n"
    )
    hf.fault(r"/srv/vllm/v1/chat/completions", "status", status=200, body=stream, content_type="text/event-stream")
    body = {"model": "vllm-chat", "messages": ASK, "stream": True, "stream_options": {"include_usage": True}}
    raw = b"".join(post(member_key, "/v1/chat/completions", body).streaming_content)
    assert b'null,"completion_tokens"' not in raw and b'"choices":[]' not in raw and b'"choices": []' not in raw
    assert raw.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize("route", ["tgi", "hosted"])
def test_a_translated_answer_leaves_out_counts_the_upstream_did_not_give(hf, member_key, provider_token, route):
    """TGI's /generate without details and the hosted pipelines report no prompt count (§18.1)."""
    from tests.conftest import create_model

    if route == "tgi":
        create_endpoint_model(hf.base, display_name="text")
        hf.fault(r"/ep/tgi$", "status", status=200, body=[{"generated_text": "Hi"}])
    else:
        create_model(display_name="text", repo_id="openai-community/gpt2", task=Task.TEXT_GENERATION)
    response = post(member_key, "/v1/completions", {"model": "text", "prompt": "Once", "max_tokens": 2})
    assert response.status_code == 200, response.content
    usage = response.json().get("usage", {})
    assert None not in usage.values()
    stream = post(
        member_key,
        "/v1/completions",
        {"model": "text", "prompt": "Once", "max_tokens": 2, "stream": True, "stream_options": {"include_usage": True}},
    )
    raw = b"".join(stream.streaming_content)
    assert b'"prompt_tokens": null' not in raw and b'"completion_tokens": null' not in raw


def test_events_before_an_error_event_in_the_same_read_still_reach_the_caller(hf, member_key, vllm_chat):
    chunk = (
        '{"id":"x","object":"chat.completion.chunk","created":1,"model":"m",'
        '"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}'
    )
    stream = (
        f"data: {chunk % 'Hel'}\n\ndata: {chunk % 'lo'}\n\n"
        'data: {"error":{"message":"CUDA out of memory","code":500}}\n\n'
    )
    hf.fault(r"/srv/vllm/v1/chat/completions", "status", status=200, body=stream, content_type="text/event-stream")
    body = {"model": "vllm-chat", "messages": ASK, "stream": True}
    raw = b"".join(post(member_key, "/v1/chat/completions", body).streaming_content).decode()
    events = [json.loads(line[6:]) for line in raw.split("\n\n") if line.startswith("data: {")]
    assert [e["choices"][0]["delta"]["content"] for e in events[:-1]] == ["Hel", "lo"]
    # A member's key gets the category's words; the upstream's own text is for admins' keys (#24, item 9).
    message = events[-1]["error"]["message"]
    assert "failed to answer" in message and "CUDA out of memory" not in message
    assert raw.endswith("data: [DONE]\n\n")
