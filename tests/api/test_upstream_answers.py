"""Defects found in the outside review of the merged hardening, picker/engines and /v1/ API branches.

Each test is named for the defect it demonstrates and fails until the defect is fixed.
"""

import json
import time

import pytest
from django.test import Client

from providers.api import keys
from tests.conftest import TOKEN, create_endpoint_model


def api(key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return Client(raise_request_exception=False, **headers)


# Defects in client._call (estimated_time), client._parse_whole (usage) and client._read_stream (event shapes)
# are fixed by the run-integrity branch, which rewrites those functions; tracked here until it is merged.


def post(c, path, body):
    return c.post(path, body if isinstance(body, (str, bytes)) else json.dumps(body), content_type="application/json")


@pytest.fixture
def member_key(member_user):
    return keys.create(member_user, "script")[1]


@pytest.mark.parametrize("role", [["user"], {"a": 1}])
def test_chat_message_role_of_unhashable_type_is_a_400_not_a_500(hf, member_key, chat_model, role):
    body = {"model": "llama-chat", "messages": [{"role": role, "content": "hi"}]}
    response = post(api(member_key), "/v1/chat/completions", body)
    assert response.status_code == 400, response.content[:200]
    assert response.json()["error"]["param"] == "messages"


def test_endpoint_engine_probe_failure_is_cached_as_the_models_problem_until_a_config_change(
    hf, member_key, provider_token
):
    """catalog._entry() calls target_for(), which probes the engine of an endpoint model over the network while
    the catalog is built. A passing failure (here one dropped connection) becomes `entry.problem` and is served
    for every call until some unrelated configuration change bumps freshness."""
    create_endpoint_model(hf.base, display_name="paced")
    hf.fault(r"/ep/tgi/info", "drop", times=1)
    c = api(member_key)
    post(c, "/v1/completions", {"model": "paced", "prompt": "Once", "max_tokens": 2})  # 502 connection_lost
    # The upstream is healthy again: the next call must reach it.
    second = post(c, "/v1/completions", {"model": "paced", "prompt": "Once", "max_tokens": 2})
    assert second.status_code == 200, second.content[:300]


def test_scaled_to_zero_endpoint_stays_503_on_the_api_after_it_woke_up(hf, member_key, provider_token):
    """The most common case of the defect above: an endpoint scaled to zero when the catalog is built."""
    create_endpoint_model(hf.base, display_name="paced")
    hf.boot_seconds = 0.2
    hf.endpoints["tgi"]["state"] = "scaled_to_zero"
    c = api(member_key)
    first = post(c, "/v1/completions", {"model": "paced", "prompt": "Once", "max_tokens": 2})
    assert first.status_code == 503
    time.sleep(0.5)
    assert hf.endpoints["tgi"]["state"] in ("initializing", "running")
    second = post(c, "/v1/completions", {"model": "paced", "prompt": "Once", "max_tokens": 2})
    assert second.status_code == 200, second.content[:300]


@pytest.mark.parametrize("method", ["get", "post"])
def test_picker_model_parameter_of_unicode_digits_is_not_a_500(hf, admin_client, provider_token, method):
    """picker_views._model() checks str.isdigit(), which is true for "²"; the query then raises ValueError."""
    url = "/settings/providers/huggingface/endpoints/" + ("state/" if method == "get" else "start/")
    admin_client.raise_request_exception = False
    response = getattr(admin_client, method)(url, {"namespace": "alice", "name": "tgi", "model": "\u00b2"})
    assert response.status_code < 500, response.content[:200]


@pytest.fixture
def text_model(hf, provider_token):
    return create_endpoint_model(hf.base, display_name="paced")


@pytest.mark.parametrize("params", [{"temperature": 0}, {"top_p": 1}])
def test_completions_accept_openai_defaults_temperature_0_and_top_p_1(hf, member_key, text_model, params):
    """OpenAI allows temperature 0..2 and top_p 0..1; clients send temperature=0 for greedy and top_p=1 (the API
    default) all the time. /v1/completions on a text-generation model refuses both with TGI's /generate rules
    instead of mapping them (temperature 0 -> greedy, top_p 1 -> no nucleus sampling)."""
    body = {"model": "paced", "prompt": "Once", "max_tokens": 2, **params}
    response = post(api(member_key), "/v1/completions", body)
    assert response.status_code == 200, response.content[:300]


def test_api_body_between_django_limit_and_the_api_limit_gets_an_openai_error_not_an_html_page(
    hf, member_key, chat_model
):
    """openai_format.MAX_BODY_BYTES says 4 MB, but Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB default, unset in
    settings) refuses first, and errors_views.bad_request answers the console's HTML page (or its own
    {"errors": {"__all__": ...}} JSON), not the {"error": {...}} envelope §12.4 asks for."""
    content = "x" * (3 * 1024 * 1024)
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": content}], "max_tokens": 2}
    response = post(api(member_key), "/v1/chat/completions", body)
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert "message" in response.json()["error"]


@pytest.mark.parametrize(
    "estimated_time",
    [-5, "soon", float("nan")],
)
def test_upstream_loading_answer_with_an_odd_estimated_time_is_not_a_500(hf, member_key, chat_model, estimated_time):
    """A 503 "loading" body's estimated_time is used unchecked: client._call does float() on it (a string raises
    ValueError) and time.sleep() on it (a negative one raises ValueError); views._upstream_failure does round()
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


def test_a_stream_that_fails_with_an_unexpected_exception_does_not_keep_its_stream_slot(
    hf, member_user, chat_model, settings, tmp_path
):
    """views._generate takes a stream slot, then only releases it on HFError; any other exception before the
    EventStreamResponse exists (here the estimated_time defect) leaks the flock'd slot until the worker
    process dies, and the key is refused every stream once max_streams slots are gone."""
    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "one stream")
    key.max_streams = 1
    key.save()
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": True}
    hf.fault(r"chat/completions", "loading", times=1, estimated_time="soon")
    post(api(raw), "/v1/chat/completions", body)  # 500 today
    response = post(api(raw), "/v1/chat/completions", body)
    assert response.status_code == 200, response.content[:200]


def test_one_endpoint_with_an_infinite_max_total_tokens_does_not_break_the_whole_api(
    hf, member_key, chat_model, provider_token
):
    """engines._int() catches TypeError/ValueError but not OverflowError (int(float("inf"))). The catalog probes
    every endpoint model while it is built and catalog._entry() only catches HFError, so one endpoint whose /info
    says Infinity makes every /v1/ call a 500, /v1/models included, for every model."""
    create_endpoint_model(hf.base, display_name="paced")
    info = '{"model_id": "x", "router": "text-generation-router", "max_total_tokens": Infinity}'
    hf.fault(r"/ep/tgi/info", "status", times=1, status=200, body=info)
    response = api(member_key).get("/v1/models")
    assert response.status_code == 200, response.content[:200]


def test_limit_files_do_not_follow_a_planted_symlink(member_user, settings, tmp_path):
    """limits._path() makes API_LIMITS_DIR 0700 only when it creates it, and os.open(..., O_CREAT) follows
    symlinks: with API_LIMITS_DIR outside the private DATA_DIR (as .env.example suggests) and open to others, a
    local user who plants key-<id>-<prefix>.rate -> any file of the console's user gets it overwritten."""
    import os

    from providers.api import limits

    shared = tmp_path / "limits"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    settings.API_LIMITS_DIR = shared
    key, raw = keys.create(member_user, "victim")
    victim = tmp_path / "victim.sqlite3"
    victim.write_bytes(b"SQLite format 3\x00 precious")
    os.symlink(victim, shared / f"key-{key.pk}-{key.prefix}.rate")
    caller = keys.lookup(raw, 1)
    limits.take_request(caller)
    assert victim.read_bytes().startswith(b"SQLite format 3"), victim.read_bytes()[:40]


def test_key_name_refuses_direction_controls_like_every_other_name(member_client):
    """style: names refuse BIDI controls (generation_params.name_error); NewKeyForm.clean_name does not, so a key
    named "prod\u202ekey" is listed reversed on the admins' page."""
    from providers.models import APIKey

    response = member_client.post("/account/", {"name": "prod\u202eyek-lanretni", "expires_in_days": ""})
    assert response.status_code == 200
    assert not APIKey.objects.filter(name__contains="\u202e").exists()


@pytest.mark.parametrize("estimated_time", [-5, "soon"])
def test_test_connection_with_an_odd_estimated_time_is_not_a_500(hf, admin_client, chat_model, estimated_time):
    """The same client._call defect reached from Test connection: the diagnosis page gets a 500."""
    hf.fault(r"chat/completions", "loading", times=5, estimated_time=estimated_time)
    admin_client.raise_request_exception = False
    url = f"/settings/providers/huggingface/models/{chat_model.pk}/test/"
    response = admin_client.post(url, HTTP_ACCEPT="application/json")
    assert response.status_code < 500, response.content[:200]


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


def test_a_member_cannot_escape_a_lowered_key_limit_by_creating_another_key(
    hf, member_user, member_client, chat_model, settings, tmp_path
):
    """Limits live on the key only and a member may create any number of keys: when an admin lowers a key's
    requests per minute (or streams), its owner creates a fresh key on /account/ and gets the defaults again."""
    import re

    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "throttled")
    key.requests_per_minute = 1
    key.save()
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    assert post(api(raw), "/v1/chat/completions", body).status_code == 200
    assert post(api(raw), "/v1/chat/completions", body).status_code == 429
    page = member_client.post("/account/", {"name": "fresh", "expires_in_days": ""}).content.decode()
    fresh = re.search(r"hfc_[A-Za-z0-9_-]{40,}", page).group(0)
    assert post(api(fresh), "/v1/chat/completions", body).status_code == 429
