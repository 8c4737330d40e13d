"""Usage is integers or absent, never null: where the upstream reports no counts (the hosted text pipelines), the
console counts them with the model's own tokenizer.json, fetched from the Hub once with the model's token."""

import json

import pytest
from django.test import Client

from providers.huggingface import tokens
from providers.huggingface.generation import Target
from providers.models import Task
from tests.conftest import TOKEN, create_model


def post(key, path, body):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.post(path, json.dumps(body), content_type="application/json")


def tokenizer_fetches(hf):
    return [r for r in hf.requests if r["path"].endswith("/tokenizer.json")]


@pytest.fixture
def hosted(hf, provider_token):
    # A transformers pipeline on hf-inference: `[{"generated_text"}]` and no count at all (§18.1)
    hf.add_model("acme/pipe-gpt", pipeline_tag="text-generation", backend="transformers")
    return create_model(display_name="gpt2", repo_id="acme/pipe-gpt", task=Task.TEXT_GENERATION)


def test_a_hosted_model_without_usage_is_counted_with_its_tokenizer(hf, member_key, hosted):
    response = post(member_key, "/v1/completions", {"model": "gpt2", "prompt": "The sky is", "max_tokens": 3})
    assert response.status_code == 200, response.content
    # "The sky is" and <s>: 4 prompt tokens; "The sky is" generated: 3 (the emulator's tokenizer, a word each)
    assert response.json()["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    fetched = tokenizer_fetches(hf)
    assert [r["path"] for r in fetched] == ["/hub/acme/pipe-gpt/resolve/main/tokenizer.json"]
    assert fetched[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"  # the model's token, to the Hub
    post(member_key, "/v1/completions", {"model": "gpt2", "prompt": "The sky", "max_tokens": 2})
    assert len(tokenizer_fetches(hf)) == 1  # fetched once


def test_a_counted_stream_ends_with_integer_usage(hf, member_key, hosted):
    body = {"model": "gpt2", "prompt": "The sky", "max_tokens": 4, "stream": True}  # the pipeline: one event
    body["stream_options"] = {"include_usage": True}
    response = post(member_key, "/v1/completions", body)
    raw = b"".join(response.streaming_content).decode()
    events = [json.loads(line[6:]) for line in raw.split("\n\n") if line.startswith("data: {")]
    assert events[-1]["choices"] == [] and events[-1]["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
    }


def test_without_a_tokenizer_usage_is_left_out_and_the_failure_is_remembered(hf, member_key, hosted):
    hf.no_tokenizer.add("acme/pipe-gpt")
    for _ in range(2):
        response = post(member_key, "/v1/completions", {"model": "gpt2", "prompt": "The sky", "max_tokens": 2})
        assert response.status_code == 200
        assert "usage" not in response.json()
    assert len(tokenizer_fetches(hf)) == 1  # the failure is cached, not asked again on every call


def test_a_self_hosted_servers_key_never_goes_to_the_hub():
    def target(url, engine_type="inference_endpoint"):
        return Target(engine_type, "chat", "acme/m", endpoint_url=url, token="the-key")

    assert tokens._hub_token(target("https://vllm.example.org")) is None
    assert tokens._hub_token(target("https://x.us-east-1.aws.endpoints.huggingface.cloud")) == "the-key"
    assert tokens._hub_token(target("", "inference_providers")) == "the-key"


def test_the_repo_is_the_models_own_or_the_one_its_server_serves():
    assert tokens.repo_of(Target("inference_providers", "chat", "meta-llama/Llama-3.1-8B:together")) == (
        "meta-llama/Llama-3.1-8B"
    )
    assert tokens.repo_of(Target("inference_endpoint", "chat", "", served_model="Qwen/Qwen2.5-7B")) == "Qwen/Qwen2.5-7B"
    assert tokens.repo_of(Target("inference_endpoint", "chat", "", served_model="model.gguf")) == ""
