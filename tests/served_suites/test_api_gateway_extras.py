"""The openai package (and a browser's preflight) against the console served by gunicorn: a model called by its
repo id, images to a vision model, the console's own token counts, capabilities in /v1/models, the
x-ratelimit-* headers, CORS, and a slow first token that no longer trips a short read timeout."""

import base64
import json

import openai
import pytest
import requests

from tests.conftest import TOKEN
from tests.served import Console

ORIGIN = "https://app.example.com"
SETUP = """
from providers.core import roles
from providers.models import HFModel, ProviderSettings
from django.contrib.auth.models import User
roles.set_role(User.objects.create_user("mia", "mia@example.com", "{password}"), roles.MEMBER)
provider = ProviderSettings.load()
provider.set_secret("api_token", "{token}")
provider.save()
HFModel.objects.create(display_name="llama", endpoint_type="inference_providers", task="chat",
                       repo_id="meta-llama/Llama-3.1-8B-Instruct:together")
HFModel.objects.create(display_name="vision", endpoint_type="inference_providers", task="chat",
                       repo_id="Qwen/Qwen2.5-VL-7B-Instruct")
HFModel.objects.create(display_name="pipe", endpoint_type="hosted_api", task="text-generation",
                       repo_id="acme/pipe-gpt")
HFModel.objects.create(display_name="vllm", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{base}/srv/vllm")
HFModel.objects.create(display_name="tgi", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{base}/ep/tgi")
"""


@pytest.fixture(scope="module")
def served(emulator, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api-extras")
    env = {
        "API_LIMITS_DIR": str(tmp / "limits"),
        "HF_HUB_URL": emulator.hub_url,
        "HF_ROUTER_URL": emulator.router_url,
        "WEB_WORKERS": "2",
        "API_CORS_ORIGINS": ORIGIN,
        "API_REQUESTS_PER_MINUTE": "600",
    }
    console = Console(emulator, tmp, SETUP, env, token=TOKEN).start()
    key = console.manage("create_api_key", "mia", "extras").strip().splitlines()[-1]
    try:
        yield {"url": console.url, "key": key}
    finally:
        console.stop()


@pytest.fixture
def upstream(served, hf):
    hf.add_model(
        "meta-llama/Llama-3.1-8B-Instruct",
        warm=False,
        providers={"together": "live"},
        tags=["conversational"],
    )
    hf.add_model(
        "Qwen/Qwen2.5-VL-7B-Instruct",
        warm=False,
        providers={"together": "live"},
        tags=["conversational"],
        modalities=["text", "image"],
    )
    hf.add_model("acme/pipe-gpt", pipeline_tag="text-generation", backend="transformers")
    hf.add_engine("vllm", "vllm")
    # The router's catalog, as the console reads (and caches) it for /v1/models and images
    hf.provider_details["Qwen/Qwen2.5-VL-7B-Instruct"] = {"together": {"supports_tools": False}}
    return hf


def client(served, timeout=20):
    return openai.OpenAI(base_url=served["url"] + "/v1", api_key=served["key"], max_retries=0, timeout=timeout)


def test_openai_calls_a_model_by_its_repo_id(served, upstream):
    answer = client(served).chat.completions.create(
        model="meta-llama/Llama-3.1-8B-Instruct", messages=[{"role": "user", "content": "Hi"}], max_tokens=2
    )
    assert answer.model and answer.choices[0].message.content


def test_openai_sends_an_image_to_a_vision_model(served, upstream):
    pixel = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
    ]
    messages = [{"role": "user", "content": content}]
    answer = client(served).chat.completions.create(model="vision", messages=messages)
    assert answer.choices[0].message.content.startswith("I see 1 image(s)")
    with pytest.raises(openai.BadRequestError) as refused:
        client(served).chat.completions.create(model="llama", messages=messages)
    assert refused.value.body["param"] == "messages[0].content[1].image_url"


def test_openai_gets_the_consoles_own_counts_as_integers(served, upstream):
    answer = client(served).completions.create(model="pipe", prompt="The sky is", max_tokens=3)
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (4, 3, 7)


def test_models_list_capabilities_as_extra_fields(served, upstream):
    models = {m.id: m for m in client(served).models.list()}
    assert models["vision"].capabilities["tools"] is False  # the router's catalog says so
    assert models["vision"].capabilities["images"] is True
    assert models["llama"].capabilities["images"] is False
    assert models["llama"].capabilities["tools"] is True
    assert models["pipe"].capabilities == {
        "streaming": True,
        "tools": False,
        "structured_output": False,
        "images": False,
    }


def test_every_answer_carries_the_request_budget(served, upstream):
    raw = client(served).chat.completions.with_raw_response.create(
        model="llama", messages=[{"role": "user", "content": "Hi"}], max_tokens=1
    )
    assert raw.headers["x-ratelimit-limit-requests"] == "600"
    assert 0 <= int(raw.headers["x-ratelimit-remaining-requests"]) < 600
    assert raw.headers["x-ratelimit-reset-requests"].endswith("s")


def test_a_browser_app_passes_cors(served, upstream):
    preflight = requests.options(
        served["url"] + "/v1/chat/completions",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-stainless-lang",
        },
        timeout=10,
    )
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-stainless-lang" in preflight.headers["Access-Control-Allow-Headers"]
    answer = requests.get(
        served["url"] + "/v1/models", headers={"Origin": ORIGIN, "Authorization": f"Bearer {served['key']}"}, timeout=10
    )
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-ratelimit-limit-requests" in answer.headers["Access-Control-Expose-Headers"]


def test_a_slow_first_token_does_not_trip_a_short_read_timeout(served, upstream):
    upstream.first_token_delay = 4.0  # longer than the client waits for any byte
    stream = client(served, timeout=2.5).chat.completions.create(
        model="llama", messages=[{"role": "user", "content": "Hi"}], max_tokens=3, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert len(text.split()) == 3


def test_openai_sends_several_prompts_and_n_where_the_server_batches_them(served, upstream):
    answer = client(served).completions.create(model="vllm", prompt=["Once", "Twice"], n=2, max_tokens=2)
    assert sorted(c.index for c in answer.choices) == [0, 1, 2, 3]
    with pytest.raises(openai.BadRequestError) as refused:
        client(served).completions.create(model="tgi", prompt=["Once", "Twice"], max_tokens=2)
    assert refused.value.body["param"] == "prompt"
    with pytest.raises(openai.BadRequestError) as refused:
        client(served).completions.create(model="tgi", prompt="Once", n=2, max_tokens=2)
    assert refused.value.body["param"] == "n"


def test_openai_top_p_zero_is_greedy_decoding(served, upstream):
    answer = client(served).completions.create(model="tgi", prompt="Once", top_p=0, max_tokens=2)
    assert answer.choices[0].text
    sent = [r for r in upstream.requests if r["path"] == "/ep/tgi"][-1]
    parameters = json.loads(sent["body"])["parameters"]
    assert "top_p" not in parameters and parameters["do_sample"] is False
