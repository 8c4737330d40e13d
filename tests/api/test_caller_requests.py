"""How /v1/ reads a caller's request: message roles, body sizes, temperature 0 and top_p 1, model names, routes."""

import json

import pytest

from tests.api.calls import api, post
from tests.conftest import create_endpoint_model


def sent_to(hf, suffix):
    return [r for r in hf.requests if r["path"].endswith(suffix)]


@pytest.mark.parametrize("role", [["user"], {"a": 1}])
def test_chat_message_role_of_unhashable_type_is_a_400_not_a_500(hf, member_key, chat_model, role):
    body = {"model": "llama-chat", "messages": [{"role": role, "content": "hi"}]}
    response = post(api(member_key), "/v1/chat/completions", body)
    assert response.status_code == 400, response.content[:200]
    assert response.json()["error"]["param"] == "messages"


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


def test_the_api_body_limit_is_the_request_limit(hf, member_key, chat_model, settings):
    settings.REQUEST_MAX_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "x" * 2000}]}
    response = post(api(member_key), "/v1/chat/completions", body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("params", [{"temperature": 0}, {"top_p": 1}])
def test_completions_accept_openai_defaults_temperature_0_and_top_p_1(hf, member_key, text_model, params):
    """OpenAI allows temperature 0..2 and top_p 0..1; clients send temperature=0 for greedy and top_p=1 (the API
    default) all the time. /v1/completions on a text-generation model refuses both with TGI's /generate rules
    instead of mapping them (temperature 0 -> greedy, top_p 1 -> no nucleus sampling)."""
    body = {"model": "paced", "prompt": "Once", "max_tokens": 2, **params}
    response = post(api(member_key), "/v1/completions", body)
    assert response.status_code == 200, response.content[:300]


def test_temperature_0_is_sent_to_tgi_as_greedy_decoding(hf, member_key, provider_token):
    create_endpoint_model(hf.base, display_name="paced", temperature=0.7, top_p=0.9)
    body = {"model": "paced", "prompt": "Once", "max_tokens": 2, "temperature": 0, "top_p": 1}
    assert post(api(member_key), "/v1/completions", body).status_code == 200
    sent = json.loads(sent_to(hf, "/ep/tgi")[-1]["body"])["parameters"]
    assert sent["do_sample"] is False
    assert "temperature" not in sent and "top_p" not in sent  # the model's sampling defaults are dropped too


def test_temperature_0_is_greedy_on_an_openai_compatible_engine(hf, member_key, provider_token):
    hf.add_engine("vl", "vllm")
    create_endpoint_model(
        hf.base, display_name="vl", path="/srv/vl", engine="vllm", served_model="Qwen/Qwen2.5-7B-Instruct"
    )
    body = {"model": "vl", "prompt": "Once", "max_tokens": 2, "temperature": 0}
    assert post(api(member_key), "/v1/completions", body).status_code == 200
    assert json.loads(sent_to(hf, "/srv/vl/v1/completions")[-1]["body"])["temperature"] == 0


def test_a_model_is_retrieved_by_its_display_name_as_it_is_called_by_it(hf, member_key, chat_model):
    response = api(member_key).get("/v1/models/llama chat")
    assert response.status_code == 200 and response.json()["id"] == "llama-chat"
    assert api(member_key).get("/v1/models/tgi").status_code == 404  # a placeholder names no model here


def test_an_unknown_api_route_names_the_model_route_too(member_key):
    response = api(member_key).get("/v1/audio/speech")  # /v1/embeddings exists since embeddings came
    assert response.status_code == 404 and "/v1/models/<id>" in response.json()["error"]["message"]


def test_the_tgi_route_names_max_new_tokens_as_its_caller_sent_it(hf, member_key, provider_token):
    create_endpoint_model(hf.base, display_name="paced")
    body = {"inputs": "Once", "parameters": {"max_new_tokens": 0}}
    response = post(api(member_key), "/v1/models/paced", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "max_new_tokens"
