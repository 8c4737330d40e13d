"""What /v1/ answers when an upstream answers oddly: loading times, usage counts, event shapes, surrogates, echoes."""

import pytest

from providers.api import keys
from providers.huggingface import transport
from tests.api.calls import api, post
from tests.conftest import TOKEN, create_endpoint_model


@pytest.mark.parametrize(
    "estimated_time",
    [-5, "soon", float("nan")],
)
def test_upstream_loading_answer_with_an_odd_estimated_time_is_not_a_500(hf, member_key, chat_model, estimated_time):
    """A 503 "loading" body's estimated_time is used unchecked: client._call does float() on it (a string raises
    ValueError) and time.sleep() on it (a negative one raises ValueError); replies.upstream_failure does round()
    on it (NaN raises ValueError). Each is a 500 from a failing upstream."""
    hf.fault(r"chat/completions", "loading", times=5, estimated_time=estimated_time)
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    response = post(api(member_key), "/v1/chat/completions", body)
    assert response.status_code == 503, response.content[:200]
    assert response.json()["error"]["code"] == "model_loading"


def test_upstream_error_text_echoing_the_request_does_not_hand_the_hf_token_to_a_member(hf, member_key, text_model):
    """Upstream error bodies (parse_error_body, up to 500 characters, or _json's 200-character snippet) are passed
    verbatim into the API's error message. A proxy or server that echoes the request headers in its error page
    (debug pages, WAFs, echo servers) hands the console's HF token to every member with a key."""
    echoed = f"Bad request. Headers received: Host: ep; Authorization: Bearer {TOKEN}; Accept: */*"
    hf.fault(r"/ep/tgi$", "status", times=3, status=400, body=echoed, content_type="text/plain")
    response = post(api(member_key), "/v1/completions", {"model": "paced", "prompt": "Once", "max_tokens": 2})
    assert response.status_code == 400
    assert TOKEN not in response.content.decode()


@pytest.mark.parametrize(
    "usage",
    [{"prompt_tokens": "5", "completion_tokens": 3}, ["not", "an", "object"]],
)
def test_upstream_usage_of_the_wrong_type_is_not_a_500(hf, member_key, chat_model, usage):
    """client._parse takes usage.prompt_tokens / completion_tokens unchecked (and calls .get on usage whatever it
    is); openai_format.usage() then adds a str to an int. A 200 answer with an odd usage object is a 500."""
    answer = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": usage,
    }
    hf.fault(r"chat/completions", "status", times=1, status=200, body=answer)
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    response = post(api(member_key), "/v1/chat/completions", body)
    assert response.status_code in (200, 502), response.content[:200]


def test_a_lone_surrogate_from_the_upstream_does_not_break_the_stream(hf, member_key, chat_model):
    """openai_format.sse() encodes with ensure_ascii=False, so a lone UTF-16 surrogate that an upstream sent as
    a JSON escape (a token cut inside an emoji) raises UnicodeEncodeError mid-stream: no error event, no
    [DONE], the client sees a broken connection."""
    events = (
        'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi \\ud83d"}}]}'
        "\n\n"
        'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
        "\n\ndata: [DONE]\n\n"
    )
    hf.fault(r"chat/completions", "status", times=1, status=200, body=events, content_type="text/event-stream")
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": True}
    response = post(api(member_key), "/v1/chat/completions", body)
    assert response.status_code == 200
    raw = b"".join(response.streaming_content)
    assert raw.endswith(b"data: [DONE]\n\n"), raw[-200:]


@pytest.mark.parametrize(
    "chunk",
    ['{"choices":[{"index":0,"delta":"oops"}]}', '{"choices":[{"index":0,"delta":{"content":7}}]}', '{"choices":[5]}'],
)
def test_a_stream_event_of_an_unexpected_shape_is_an_error_event_not_a_500(hf, member_key, chat_model, chunk):
    """client._read_stream checks that an event is an object, then trusts its inner shape (.get on a delta that
    is a string, "".join over a number). The first event is read before the response starts, so this is a 500
    (and, with stream slots, a leaked slot); later it is a broken stream."""
    events = f"data: {chunk}\n\ndata: [DONE]\n\n"
    hf.fault(r"chat/completions", "status", times=1, status=200, body=events, content_type="text/event-stream")
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": True}
    response = post(api(member_key), "/v1/chat/completions", body)
    assert response.status_code in (200, 502), response.content[:200]


def test_a_lone_surrogate_becomes_a_replacement_character_in_plain_ascii_sse(hf, member_key, chat_model):
    events = (
        'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi \\ud83d"}}]}'
        "\n\ndata: [DONE]\n\n"
    )
    hf.fault(r"chat/completions", "status", times=1, status=200, body=events, content_type="text/event-stream")
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    raw = b"".join(post(api(member_key), "/v1/chat/completions", body).streaming_content)
    assert b'"Hi \\ufffd"' in raw  # UTF-8 cannot carry a lone surrogate: the client replaces it, as a decoder would
    raw.decode("ascii")


def test_an_odd_usage_count_is_left_out(hf, member_key, chat_model):
    """Counts are whole numbers or absent, never null: the AI SDK's completion model refuses a null count."""
    answer = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": -4, "completion_tokens": 3},
    }
    hf.fault(r"chat/completions", "status", times=1, status=200, body=answer)
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}]}
    response = post(api(member_key), "/v1/chat/completions", body)
    assert response.status_code == 200
    assert response.json()["usage"] == {"completion_tokens": 3}


def test_a_non_json_answer_echoing_the_token_is_quoted_without_it(hf, admin_user, provider_token):
    create_endpoint_model(hf.base, display_name="paced")
    echoed = f"<html>debug: Authorization: Bearer {TOKEN}</html>"
    hf.fault(r"/ep/tgi$", "status", times=1, status=200, body=echoed, content_type="text/html")
    response = post(
        api(keys.create(admin_user, "script")[1]),
        "/v1/completions",
        {"model": "paced", "prompt": "Once", "max_tokens": 2},
    )
    assert response.status_code == 502
    text = response.content.decode()
    assert "debug" in text and transport.REDACTED in text and TOKEN not in text
