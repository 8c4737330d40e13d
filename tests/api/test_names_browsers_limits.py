"""A model called by its repo id, /v1/models with what each model can do, CORS for browser apps, the
x-ratelimit-* headers on every answer, top_p 0, several prompts and n where the upstream takes them."""

import json

import pytest
from django.test import Client

from providers.models import Task
from tests.conftest import create_endpoint_model, create_model

ASK = [{"role": "user", "content": "Hello there"}]
ORIGIN = "https://app.example.com"


def post(key, path, body, **headers):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", **headers)
    return client.post(path, json.dumps(body), content_type="application/json")


def sent(hf, path_end):
    return json.loads([r for r in hf.requests if r["path"].endswith(path_end)][-1]["body"])


@pytest.fixture
def models(hf, provider_token):
    hf.add_engine("vllm", "vllm")
    create_endpoint_model(hf.base, display_name="vllm text", path="/srv/vllm")
    create_endpoint_model(hf.base, display_name="tgi chat", task=Task.CHAT, accepts_images=True)
    create_endpoint_model(hf.base, display_name="tgi text")
    create_model(
        display_name="together",
        endpoint_type="inference_providers",
        task=Task.CHAT,
        repo_id="meta-llama/Llama-3.1-8B-Instruct:together",
    )


def test_a_model_is_called_by_its_repo_id_with_or_without_its_provider(hf, member_key, models):
    for name in ("meta-llama/Llama-3.1-8B-Instruct:together", "meta-llama/Llama-3.1-8B-Instruct"):
        response = post(member_key, "/v1/chat/completions", {"model": name, "messages": ASK, "max_tokens": 2})
        assert response.status_code == 200, response.content
        assert sent(hf, "/router/v1/chat/completions")["model"] == "meta-llama/Llama-3.1-8B-Instruct:together"
    got = Client(HTTP_AUTHORIZATION=f"Bearer {member_key}").get("/v1/models/meta-llama/Llama-3.1-8B-Instruct")
    assert got.status_code == 200 and got.json()["id"] == "together"


def test_a_repo_id_of_two_models_is_refused_with_their_ids(hf, member_key, models):
    create_model(
        display_name="fireworks",
        endpoint_type="inference_providers",
        task=Task.CHAT,
        repo_id="meta-llama/Llama-3.1-8B-Instruct:fireworks-ai",
    )
    response = post(member_key, "/v1/chat/completions", {"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": ASK})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "model" and error["code"] == "model_ambiguous"
    assert "fireworks" in error["message"] and "together" in error["message"]
    exact = {"model": "meta-llama/Llama-3.1-8B-Instruct:together", "messages": ASK, "max_tokens": 1}
    assert post(member_key, "/v1/chat/completions", exact).status_code == 200


def test_models_list_what_each_model_can_do(hf, member_key, models):
    hf.provider_details["meta-llama/Llama-3.1-8B-Instruct"] = {"together": {"context_length": 131072}}
    listed = Client(HTTP_AUTHORIZATION=f"Bearer {member_key}").get("/v1/models").json()["data"]
    by_id = {m["id"]: m for m in listed}
    assert by_id["tgi-chat"]["capabilities"] == {
        "streaming": True,
        "tools": True,
        "structured_output": True,
        "images": True,  # an admin's mark
    }
    assert by_id["tgi-text"]["capabilities"]["images"] is False
    assert by_id["tgi-text"]["capabilities"]["tools"] is False
    assert by_id["together"]["repo_id"] == "meta-llama/Llama-3.1-8B-Instruct:together"
    assert by_id["together"]["context_length"] == 131072


def test_cors_is_off_by_default(hf, member_key, models):
    preflight = Client().options("/v1/chat/completions", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in preflight.headers
    answer = post(member_key, "/v1/chat/completions", {"model": "tgi-chat", "messages": ASK}, HTTP_ORIGIN=ORIGIN)
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_a_browser_preflight_is_answered_without_a_key(hf, member_key, models, settings):
    settings.API_CORS_ORIGINS = [ORIGIN]
    asked = "authorization, content-type, x-stainless-os, x-stainless-retry-count, openai-beta"
    preflight = Client().options(
        "/v1/chat/completions",
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=asked,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-stainless-os", "x-stainless-retry-count", "openai-beta"} <= allowed
    answer = post(member_key, "/v1/chat/completions", {"model": "tgi-chat", "messages": ASK}, HTTP_ORIGIN=ORIGIN)
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-ratelimit-remaining-requests" in answer.headers["Access-Control-Expose-Headers"]
    refused = Client().options(
        "/v1/models", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers


def test_every_answer_says_the_keys_request_budget(hf, member_key, models, member_user):
    from providers.models import APIKey

    APIKey.objects.filter(owner=member_user).update(requests_per_minute=3)
    first = post(member_key, "/v1/chat/completions", {"model": "tgi-chat", "messages": ASK, "max_tokens": 1})
    assert first.headers["x-ratelimit-limit-requests"] == "3"
    assert first.headers["x-ratelimit-remaining-requests"] == "2"
    assert first.headers["x-ratelimit-reset-requests"] == "20s"
    wrong = post(member_key, "/v1/chat/completions", {"model": "nope", "messages": ASK})
    assert wrong.status_code == 404 and wrong.headers["x-ratelimit-remaining-requests"] == "1"
    post(member_key, "/v1/chat/completions", {"model": "tgi-chat", "messages": ASK, "max_tokens": 1})
    limited = post(member_key, "/v1/chat/completions", {"model": "tgi-chat", "messages": ASK})
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert limited.headers["x-ratelimit-reset-requests"].endswith("s")


def test_top_p_zero_is_greedy_decoding_where_the_upstream_refuses_zero(hf, member_key, models):
    response = post(member_key, "/v1/chat/completions", {"model": "tgi-chat", "messages": ASK, "top_p": 0})
    assert response.status_code == 200, response.content
    body = sent(hf, "/ep/tgi/v1/chat/completions")
    assert "top_p" not in body and body["temperature"] == 0
    response = post(member_key, "/v1/completions", {"model": "tgi-text", "prompt": "Once", "top_p": 0})
    assert response.status_code == 200, response.content
    parameters = sent(hf, "/ep/tgi")["parameters"]
    assert "top_p" not in parameters and parameters["do_sample"] is False


def test_several_prompts_go_to_vllm_and_are_refused_by_name_on_tgi(hf, member_key, models):
    body = {"model": "vllm-text", "prompt": ["Once", "Twice"], "max_tokens": 2, "n": 2}
    response = post(member_key, "/v1/completions", body)
    assert response.status_code == 200, response.content
    assert sorted(c["index"] for c in response.json()["choices"]) == [0, 1, 2, 3]
    assert sent(hf, "/srv/vllm/v1/completions")["prompt"] == ["Once", "Twice"]
    refused = post(member_key, "/v1/completions", {"model": "tgi-text", "prompt": ["Once", "Twice"]})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "prompt"
    refused = post(member_key, "/v1/chat/completions", {"model": "tgi-chat", "messages": ASK, "n": 2})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "n"
