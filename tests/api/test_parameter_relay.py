"""Every OpenAI request field reaches the upstream in the form it understands, or is refused with a 400 naming it;
never dropped unseen. Values that change nothing pass; stop sequences are kept byte for byte."""

import json

import pytest
from django.test import Client

from providers.models import Task
from tests.conftest import create_endpoint_model, create_model

MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]


def post(key, path, body):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.post(path, json.dumps(body), content_type="application/json")


def sent(hf, path_end):
    return json.loads([r for r in hf.requests if r["path"].endswith(path_end)][-1]["body"])


@pytest.fixture
def models(hf, provider_token):
    """One chat model of each upstream kind, and the text models of TGI's own route and vLLM."""
    for name in ("vllm", "sglang", "llamacpp", "openai"):
        hf.add_engine(name, name)
        create_endpoint_model(hf.base, display_name=f"{name} chat", task=Task.CHAT, path=f"/srv/{name}")
    create_endpoint_model(hf.base, display_name="vllm text", task=Task.TEXT_GENERATION, path="/srv/vllm")
    create_endpoint_model(hf.base, display_name="tgi chat", task=Task.CHAT)
    create_endpoint_model(hf.base, display_name="tgi text")
    create_model(
        display_name="router chat",
        endpoint_type="inference_providers",
        task=Task.CHAT,
        repo_id="meta-llama/Llama-3.1-8B-Instruct",
    )
    create_model(
        display_name="hosted chat", endpoint_type="hosted_api", task=Task.CHAT, repo_id="openai-community/gpt2"
    )
    create_model(display_name="hosted text", repo_id="openai-community/gpt2", task=Task.TEXT_GENERATION)


def test_an_openai_compatible_upstream_gets_the_request_as_sent_with_its_model_id(hf, member_key, models):
    body = {
        "model": "vllm-chat",
        "messages": MESSAGES,
        "max_tokens": 4,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "logit_bias": {"50256": -100},
        "logprobs": True,
        "top_logprobs": 2,
        "n": 2,
        "seed": 7,
        "user": "u-1",
        "min_p": 0.1,
        "chat_template_kwargs": {"enable_thinking": False},
    }
    response = post(member_key, "/v1/chat/completions", body)
    assert response.status_code == 200, response.content
    assert sent(hf, "/srv/vllm/v1/chat/completions") == {**body, "model": "Qwen/Qwen2.5-7B-Instruct"}
    answer = response.json()
    assert [c["index"] for c in answer["choices"]] == [0, 1]
    assert answer["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    assert answer["system_fingerprint"] == "3.2.1-native"


def test_completions_on_vllm_carry_echo_logprobs_and_penalties(hf, member_key, models):
    body = {"model": "vllm-text", "prompt": "Once", "max_tokens": 3, "echo": True, "logprobs": 2, "n": 1}
    body["frequency_penalty"] = 0.3
    response = post(member_key, "/v1/completions", body)
    assert response.status_code == 200, response.content
    assert sent(hf, "/srv/vllm/v1/completions") == {**body, "model": "Qwen/Qwen2.5-7B-Instruct"}
    assert response.json()["choices"][0]["text"].startswith("Once")
    assert response.json()["choices"][0]["logprobs"]["token_logprobs"]


def test_n_choices_come_back_from_vllm_whole_and_streamed(hf, member_key, models):
    body = {"model": "vllm-text", "prompt": "Once", "max_tokens": 2, "n": 2}
    assert [c["index"] for c in post(member_key, "/v1/completions", body).json()["choices"]] == [0, 1]
    raw = b"".join(post(member_key, "/v1/completions", {**body, "stream": True}).streaming_content).decode()
    chunks = [json.loads(line[6:]) for line in raw.split("\n\n") if line.startswith("data: {")]
    finished = {c["choices"][0]["index"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]}
    assert finished == {0, 1}


@pytest.mark.parametrize(
    "model,field,value",
    [
        ("router-chat", "n", 2),
        ("llamacpp-chat", "n", 3),
        ("tgi-chat", "logit_bias", {"1": 5}),
        ("tgi-chat", "n", 2),
        ("hosted-chat", "tools", [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        ("hosted-chat", "response_format", {"type": "json_object"}),
        ("hosted-chat", "logprobs", True),
        ("hosted-chat", "presence_penalty", 0.5),
        ("openai-chat", "tools", [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        ("openai-chat", "response_format", {"type": "json_object"}),
        ("router-chat", "top_k", 5),
        ("router-chat", "min_p", 0.1),
        ("vllm-chat", "guided_json", {"type": "object"}),
        ("vllm-chat", "audio", {"voice": "alloy"}),
        ("vllm-chat", "functions", [{"name": "f"}]),
        ("vllm-chat", "not_a_parameter", 1),
    ],
)
def test_a_chat_field_the_upstream_cannot_carry_is_a_400_naming_it(hf, member_key, models, model, field, value):
    before = len(hf.requests)
    response = post(member_key, "/v1/chat/completions", {"model": model, "messages": MESSAGES, field: value})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["param"] == field and field in error["message"]
    assert not [r for r in hf.requests[before:] if r["method"] == "POST"]  # refused before anything was sent


@pytest.mark.parametrize(
    "model,field,value",
    [
        ("tgi-text", "logprobs", 2),
        ("tgi-text", "suffix", "end"),
        ("tgi-text", "presence_penalty", 1.0),
        ("tgi-text", "n", 2),
        ("tgi-text", "best_of", 3),
        ("tgi-text", "logit_bias", {"1": 2}),
        ("hosted-text", "echo", True) if False else ("hosted-text", "logprobs", 1),
        ("router-chat", "echo", True),
        ("router-chat", "top_k", 3),
        ("vllm-text", "suffix", "end"),
        ("vllm-text", "best_of", 2),
    ],
)
def test_a_completions_field_the_upstream_cannot_carry_is_a_400_naming_it(hf, member_key, models, model, field, value):
    response = post(member_key, "/v1/completions", {"model": model, "prompt": "Once", field: value})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == field


@pytest.mark.parametrize("model", ["router-chat", "tgi-chat", "hosted-chat", "openai-chat", "llamacpp-chat"])
def test_values_that_change_nothing_pass_everywhere(hf, member_key, models, model):
    neutral = {
        "n": 1,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "logit_bias": {},
        "logprobs": False,
        "response_format": {"type": "text"},
        "store": False,
        "parallel_tool_calls": True,
        "user": "someone",
        "top_logprobs": None,
    }
    response = post(
        member_key, "/v1/chat/completions", {"model": model, "messages": MESSAGES, "max_tokens": 2, **neutral}
    )
    assert response.status_code == 200, response.content


def test_neutral_values_on_tgis_own_route_pass(hf, member_key, models):
    body = {"model": "tgi-text", "prompt": "Once", "max_tokens": 2, "n": 1, "logprobs": None, "presence_penalty": 0}
    assert post(member_key, "/v1/completions", body).status_code == 200


def test_echo_on_tgis_own_route_returns_the_prompt(hf, member_key, models):
    response = post(
        member_key, "/v1/completions", {"model": "tgi-text", "prompt": "Once upon", "max_tokens": 2, "echo": True}
    )
    assert response.status_code == 200, response.content
    assert response.json()["choices"][0]["text"].startswith("Once upon")
    assert json.loads([r for r in hf.requests if r["path"] == "/ep/tgi"][-1]["body"])["parameters"]["return_full_text"]


@pytest.mark.parametrize("stop", [["\n"], [" "], ["\n\n", "END"], "\n"])
def test_whitespace_stop_sequences_reach_an_openai_upstream_byte_for_byte(hf, member_key, models, stop):
    response = post(member_key, "/v1/chat/completions", {"model": "vllm-chat", "messages": MESSAGES, "stop": stop})
    assert response.status_code == 200, response.content
    assert sent(hf, "/srv/vllm/v1/chat/completions")["stop"] == stop


@pytest.mark.parametrize("stop", [["\n"], [" ", "x"]])
def test_whitespace_stop_sequences_reach_tgi_byte_for_byte(hf, member_key, models, stop):
    response = post(
        member_key, "/v1/completions", {"model": "tgi-text", "prompt": "Once", "max_tokens": 2, "stop": stop}
    )
    assert response.status_code == 200, response.content
    assert json.loads([r for r in hf.requests if r["path"] == "/ep/tgi"][-1]["body"])["parameters"]["stop"] == stop


def test_max_completion_tokens_becomes_max_tokens_where_the_engine_reads_that(hf, member_key, models):
    post(member_key, "/v1/chat/completions", {"model": "tgi-chat", "messages": MESSAGES, "max_completion_tokens": 3})
    body = sent(hf, "/ep/tgi/v1/chat/completions")
    assert body["max_tokens"] == 3 and "max_completion_tokens" not in body


def test_the_models_defaults_fill_what_the_caller_did_not_send(hf, member_key, models):
    from providers.models import HFModel

    HFModel.objects.filter(display_name="vllm chat").update(top_k=20, max_new_tokens=9)
    post(member_key, "/v1/chat/completions", {"model": "vllm-chat", "messages": MESSAGES, "max_tokens": 3})
    body = sent(hf, "/srv/vllm/v1/chat/completions")
    assert body["top_k"] == 20 and body["max_tokens"] == 3


def test_the_developer_role_reaches_open_models_as_system(hf, member_key, models):
    messages = [{"role": "developer", "content": "Be brief."}, *MESSAGES]
    assert post(member_key, "/v1/chat/completions", {"model": "vllm-chat", "messages": messages}).status_code == 200
    assert sent(hf, "/srv/vllm/v1/chat/completions")["messages"][0] == {"role": "system", "content": "Be brief."}
