"""The OpenAI-compatible API in process: keys, models, both routes whole and streamed, errors, limits, records."""

import json
from datetime import timedelta

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from providers.api import keys, translated, views
from providers.core import quotas
from providers.models import APICall, APIKey
from tests.conftest import create_endpoint_model


def api(key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return Client(**headers)


def post(c, path, body):
    return c.post(path, json.dumps(body), content_type="application/json")


def sse_events(response):
    raw = b"".join(response.streaming_content).decode()
    assert raw.endswith("data: [DONE]\n\n"), raw[-200:]
    return [json.loads(line[6:]) for line in raw.split("\n\n") if line.startswith("data: {")]


@pytest.fixture
def text_model(hf, provider_token):
    return create_endpoint_model(hf.base, display_name="My TGI")


def test_models_lists_enabled_models_by_their_api_id(member_key, chat_model, text_model, hosted_model):
    hosted_model.enabled = False
    hosted_model.save()
    response = api(member_key).get("/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["llama-chat", "my-tgi"]
    assert api(member_key).get("/v1/models/my-tgi").json()["id"] == "my-tgi"
    assert api(member_key).get("/v1/models/flan").status_code == 404


def test_api_id_is_kept_when_the_model_is_renamed(hf, chat_model):
    chat_model.display_name = "Renamed"
    chat_model.save()
    chat_model.refresh_from_db()
    assert chat_model.api_id == "llama-chat"


def test_chat_whole_answer(hf, member_key, chat_model):
    response = post(
        api(member_key),
        "/v1/chat/completions",
        {"model": "llama-chat", "messages": [{"role": "user", "content": "hi there"}], "max_tokens": 4},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
    sent = [r for r in hf.requests if r["path"].endswith("/v1/chat/completions")][-1]
    assert json.loads(sent["body"])["max_tokens"] == 4


def test_chat_stream_ends_with_done_and_usage_when_asked(member_key, hf, chat_model):
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": True}
    response = post(api(member_key), "/v1/chat/completions", {**body, "stream_options": {"include_usage": True}})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = sse_events(response)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(e["usage"] is None for e in events[:-1])
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 3
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert len(text.split()) == 3
    plain = sse_events(post(api(member_key), "/v1/chat/completions", body))
    assert all("usage" not in e for e in plain)


def test_completions_whole_and_streamed_on_an_endpoint(member_key, text_model):
    c = api(member_key)
    whole = post(c, "/v1/completions", {"model": "my-tgi", "prompt": "Once", "max_tokens": 5})
    assert whole.status_code == 200, whole.content
    assert whole.json()["object"] == "text_completion"
    assert whole.json()["choices"][0]["text"]
    assert whole.json()["usage"]["completion_tokens"] == 5
    events = sse_events(
        post(c, "/v1/completions", {"model": "my-tgi", "prompt": "Once", "max_tokens": 5, "stream": True})
    )
    assert "".join(e["choices"][0]["text"] for e in events).strip()
    assert events[-1]["choices"][0]["finish_reason"] == "length"


def test_completions_on_a_chat_model_send_the_prompt_as_the_message(hf, member_key, chat_model):
    response = post(api(member_key), "/v1/completions", {"model": "llama-chat", "prompt": "Say hi", "max_tokens": 2})
    assert response.status_code == 200
    sent = json.loads([r for r in hf.requests if r["path"].endswith("/v1/chat/completions")][-1]["body"])
    assert sent["messages"] == [{"role": "user", "content": "Say hi"}]


def test_chat_route_refuses_a_text_model(member_key, text_model):
    response = post(
        api(member_key), "/v1/chat/completions", {"model": "my-tgi", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_not_chat"


def test_the_console_parameter_rules_apply(member_key, hf, chat_model):
    c = api(member_key)
    message = [{"role": "user", "content": "x"}]
    bad = post(c, "/v1/chat/completions", {"model": "llama-chat", "messages": message, "temperature": 3})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "temperature"
    assert "between 0 and 2" in bad.json()["error"]["message"]
    assert (
        post(c, "/v1/chat/completions", {"model": "llama-chat", "messages": message, "max_tokens": 0}).json()["error"][
            "param"
        ]
        == "max_tokens"
    )
    assert (
        post(c, "/v1/chat/completions", {"model": "llama-chat", "messages": message, "stop": ["a"] * 5}).status_code
        == 400
    )
    assert post(c, "/v1/chat/completions", {"model": "llama-chat", "messages": message, "n": 2}).status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1,2]",
        b"[" * 100000,
        b'{"model": "llama-chat"}',
        b'{"model": "llama-chat", "messages": "hi"}',
        b'{"model": "llama-chat", "messages": [{"role": "tool", "content": "x"}]}',
        b'{"model": "llama-chat", "messages": [{"role": "user", "content": 5}]}',
        b'{"model": "llama-chat", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
        b'{"model": "llama-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1e400}',
        b'{"model": "llama-chat", "messages": [{"role": "user", "content": "x"}], "seed": -1}',
        b'{"model": "llama-chat", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
        b'{"model": "llama-chat", "messages": [{"role": "user", "content": "x"}], "stream_options": 5}',
        b'{"model": ["x"], "messages": []}',
    ],
)
def test_bad_input_is_a_400_in_openai_shape(member_key, chat_model, raw):
    response = api(member_key).post("/v1/chat/completions", raw, content_type="application/json")
    assert response.status_code in (400, 404), response.content
    error = response.json()["error"]
    assert error["message"] and error["type"] == "invalid_request_error"


def test_unknown_model_is_404_model_not_found(member_key, hf, chat_model):
    response = post(
        api(member_key), "/v1/chat/completions", {"model": "nope", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_huggingface_hub_placeholder_names_the_only_model(member_key, hf, chat_model):
    response = post(
        api(member_key), "/v1/chat/completions", {"model": "dummy", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "fault,status,code,retry",
    [
        (
            {"kind": "status", "status": 429, "body": {"error": "slow down"}, "headers": {"Retry-After": "30"}},
            429,
            "rate_limited",
            "true",
        ),
        ({"kind": "status", "status": 500, "body": {"error": "boom"}}, 502, "upstream_error", "true"),
        ({"kind": "loading", "estimated_time": 20.0}, 503, "model_loading", "true"),
        ({"kind": "status", "status": 401, "body": {"error": "Invalid credentials"}}, 502, "invalid_token", "false"),
        (
            {"kind": "status", "status": 422, "body": {"error": "Input validation error", "error_type": "validation"}},
            400,
            "input_rejected",
            "false",
        ),
    ],
)
def test_upstream_failures_carry_the_category_and_whether_to_retry(
    hf, member_key, chat_model, fault, status, code, retry
):
    kind = fault.pop("kind")
    hf.fault("/v1/chat/completions", kind, times=10, **fault)
    response = post(
        api(member_key), "/v1/chat/completions", {"model": "llama-chat", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["category"] == code
    assert response["x-should-retry"] == retry
    if status == 429:
        assert response["Retry-After"] == "30"
    if status == 503:
        assert response["Retry-After"] == "20"


def test_unknown_route_and_wrong_method_answer_in_openai_shape(member_key):
    assert api(member_key).get("/v1/audio/speech").json()["error"]["code"] == "unknown_route"
    response = api(member_key).get("/v1/chat/completions")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_no_key_bad_key_revoked_expired_and_deactivated_owner_are_401(member_user, hf, chat_model):
    assert api().get("/v1/models").status_code == 401
    assert api("hf_someHuggingFaceToken").get("/v1/models").json()["error"]["code"] == "invalid_api_key"
    key, raw = keys.create(member_user, "k")
    assert api(raw).get("/v1/models").status_code == 200
    key.expires_at = timezone.now() - timedelta(seconds=1)
    key.save()
    assert api(raw).get("/v1/models").json()["error"]["code"] == "api_key_expired"
    key.expires_at = None
    key.save()
    keys.revoke(key)
    assert api(raw).get("/v1/models").json()["error"]["code"] == "api_key_revoked"
    key2, raw2 = keys.create(member_user, "k2")
    assert api(raw2).get("/v1/models").status_code == 200
    member_user.is_active = False
    member_user.save()
    assert api(raw2).get("/v1/models").status_code == 401


def call_view(view, key, body):
    """The view as the server calls it: the answer first, then close() once it has been sent."""
    request = RequestFactory().post(
        "/v1/x", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    return view(request)


def closed(response):
    request_finished.disconnect(close_old_connections)  # as Django's test client does around close()
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


@pytest.mark.parametrize("stream", [False, True])
def test_a_warm_call_costs_one_query_and_records_after_the_answer(member_key, hf, chat_model, stream, file_counters):
    """The view's own cost: the limits' counters are in files here (in Redis, or in PostgreSQL's short
    transaction, when the deployment has one)."""
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2, "stream": stream}
    closed(call_view(views.chat_completions, member_key, body))  # warms the caches
    with CaptureQueriesContext(connection) as queries:
        response = call_view(views.chat_completions, member_key, body)
        assert response.status_code == 200
        if stream:
            b"".join(response.streaming_content)
        assert len(queries) == 1, [q["sql"] for q in queries.captured_queries]  # the freshness number
        assert APICall.objects.count() == 1
        closed(response)  # the record is written here, after the answer is out
    assert APICall.objects.count() == 2


def test_recording_use_does_not_move_freshness(member_key, hf, chat_model):
    from providers.core import freshness

    before = freshness.current()
    api(member_key).get("/v1/models")
    assert APIKey.objects.get().last_used_at is not None
    assert freshness.current() == before


def test_every_call_is_recorded_with_tokens_and_figures(member_key, member_user, hf, chat_model):
    c = api(member_key)
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "a b c"}], "max_tokens": 3}
    post(c, "/v1/chat/completions", body)
    streamed = post(c, "/v1/chat/completions", {**body, "stream": True})
    b"".join(streamed.streaming_content)  # the test client closes a stream once it is read, as a server does
    post(c, "/v1/chat/completions", {**body, "temperature": 5})
    calls = list(APICall.objects.order_by("id"))
    assert [(x.stream, x.status) for x in calls] == [(False, 200), (True, 200), (False, 400)]
    assert calls[0].prompt_tokens == 3 and calls[0].completion_tokens == 3 and calls[0].user == member_user
    assert calls[1].ttft_ms is not None and calls[1].latency_ms >= calls[1].ttft_ms
    assert calls[1].completion_tokens == 3 and calls[1].prompt_tokens == 3


def test_requests_per_minute_limit_answers_429_with_retry_after(member_user, hf, chat_model, settings):
    key, raw = keys.create(member_user, "k")
    key.requests_per_minute = 2
    key.save()
    c = api(raw)
    assert c.get("/v1/models").status_code == 200
    assert c.get("/v1/models").status_code == 200
    refused = c.get("/v1/models")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused["Retry-After"]) <= 30
    keys.revoke(key)
    quotas.take_rate([(f"key-{key.pk}-{key.prefix}", 2)])  # a revoked key's counters are removed


def test_concurrent_streams_limit(member_user, hf, chat_model):
    key, raw = keys.create(member_user, "k")
    key.max_streams = 1
    key.save()
    c = api(raw)
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2, "stream": True}
    first = post(c, "/v1/chat/completions", body)
    assert first.status_code == 200
    second = post(c, "/v1/chat/completions", body)
    assert second.status_code == 429 and second.json()["error"]["code"] == "too_many_streams"
    assert second["Retry-After"]
    b"".join(first.streaming_content)  # read to the end: the test client closes it, which frees the slot
    third = post(c, "/v1/chat/completions", body)
    assert third.status_code == 200
    b"".join(third.streaming_content)


def test_in_stream_failure_is_an_error_event_then_done(hf, admin_user, text_model):
    hf.fault("/ep/tgi", "stream_error", after=2)
    response = post(
        api(keys.create(admin_user, "script")[1]),
        "/v1/completions",
        {"model": "my-tgi", "prompt": "x", "stream": True, "max_tokens": 5},
    )
    assert response.status_code == 200
    events = sse_events(response)
    assert [e["choices"][0]["text"] for e in events[:-1]]  # the tokens sent before the failure
    assert events[-1]["error"]["category"] == "upstream_error"
    assert "CUDA out of memory" in events[-1]["error"]["message"]
    assert APICall.objects.get().category == "upstream_error"


def test_tgi_form_on_the_model_url(member_key, text_model):
    c = api(member_key)
    whole = post(c, "/v1/models/my-tgi", {"inputs": "Once", "parameters": {"max_new_tokens": 3}})
    assert whole.status_code == 200, whole.content
    assert len(whole.json()[0]["generated_text"].split()) == 3
    streamed = post(c, "/v1/models/my-tgi", {"inputs": "Once", "parameters": {"max_new_tokens": 3}, "stream": True})
    raw = b"".join(streamed.streaming_content).decode()
    events = [json.loads(line[5:]) for line in raw.split("\n\n") if line.startswith("data:")]
    assert [e["token"]["text"] for e in events[:-1]] and events[-1]["generated_text"]
    assert post(c, "/v1/models/my-tgi", {"inputs": ""}).status_code == 400
    assert post(c, "/v1/models/my-tgi", {"inputs": "x", "parameters": {"top_k": 0}}).json()["error"]["param"] == "top_k"


def test_a_silent_upstream_becomes_heartbeats(member_key, text_model):
    """Items that are neither text nor Finish (the client's idle marker) are SSE comments, not lost events."""
    from providers.api.accounting import CallRecord
    from providers.huggingface import adapters

    def upstream():
        yield object()
        yield "a"
        yield object()
        yield adapters.Finish("a", "stop", 1)

    entry = type("E", (), {"api_id": "m"})()
    items = upstream()
    first = next(items)
    answer = translated.Answer("completions", entry, CallRecord("completions", 0.0), items, first, False)
    out = b"".join(answer.events())
    assert out.count(b": keep-alive\n\n") == 2 and out.endswith(b"data: [DONE]\n\n")


def test_the_middleware_adds_no_query_to_an_api_call(member_key, hf, chat_model, file_counters):
    """Through the middleware /v1/ runs (providers/api/middleware.py): still the freshness number only."""
    c = api(member_key)
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2, "stream": True}
    b"".join(post(c, "/v1/chat/completions", body).streaming_content)
    with CaptureQueriesContext(connection) as queries:
        response = post(c, "/v1/chat/completions", body)
        assert response.status_code == 200
        assert len(queries) == 1, [q["sql"] for q in queries.captured_queries]
        b"".join(response.streaming_content)


def test_an_api_id_wins_over_another_models_display_name(member_key, hf, chat_model, provider_token):
    from tests.conftest import create_model

    other = create_model(display_name="aa", repo_id="google/flan-t5-base")  # listed first: its id is "aa"
    other.display_name = "llama-chat"  # renamed to the chat model's API id; its own id stays "aa"
    other.save()
    response = post(
        api(member_key), "/v1/chat/completions", {"model": "llama-chat", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 200, response.content
