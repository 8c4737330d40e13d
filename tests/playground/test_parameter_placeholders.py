"""Each empty parameter field says, as its placeholder, what it does for the chosen model, and says it truly: the
value the console sends in its place (checked in the request the emulator received), the engine's default as the
engine itself reports it (TGI's /info, read by Test connection), or a neutral word; in both languages."""

import json

import pytest
import requests
from django.urls import reverse
from django.utils import translation

from providers.models import HFModel
from providers.playground import defaults
from providers.settings_screen.connection_test import record_test, run_test
from tests.conftest import create_endpoint_model, create_model

pytestmark = pytest.mark.django_db


def page_placeholders(client, model):
    """The placeholders the playground page carries for a model (its models-data blob)."""
    response = client.get(reverse("playground"))
    blob = response.content.decode().split('id="models-data" type="application/json">', 1)[1].split("</script>")[0]
    return next(m for m in json.loads(blob) if m["id"] == model.pk)["placeholders"]


def after_connection_test(model):
    record_test(model, run_test(model), None)
    return HFModel.objects.select_related("last_test").get(pk=model.pk)


def run_empty(client, model, **fields):
    data = {"model": model.pk, "prompt": "Why is the sky blue", **fields}
    response = client.post(reverse("playground_run"), data)
    assert response.status_code == 200
    b"".join(response.streaming_content) if response.streaming else response.content


def test_tgi_says_its_served_context_and_the_console_leaves_max_new_tokens_to_it(hf, member_client):
    model = after_connection_test(create_endpoint_model(hf.base, display_name="TGI"))
    assert model.engine == "tgi" and model.last_test.ok
    words = page_placeholders(member_client, model)
    assert requests.get(hf.base + "/ep/tgi/info", timeout=5).json()["max_total_tokens"] == 2048
    assert words["empty"]["max_new_tokens"] == "up to 2,048 − prompt"
    assert words["empty"]["temperature"] == "1" and words["empty"]["top_p"] == "1 (off)"
    assert words["greedy"]["temperature"] == "not used: no sampling"
    run_empty(member_client, model)
    params = json.loads(hf.requests[-1]["body"])["parameters"]
    # Nothing sent for the empty fields: TGI applies its own defaults (§3.2), greedy as do_sample is false.
    assert "max_new_tokens" not in params and "temperature" not in params and "top_p" not in params
    assert params["do_sample"] is False


def test_an_untested_tgi_says_the_context_left_without_a_number(hf):
    model = create_endpoint_model(hf.base, display_name="TGI", engine="tgi")
    words = defaults.placeholders(HFModel.objects.select_related("last_test").get(pk=model.pk))
    assert words["empty"]["max_new_tokens"] == "rest of the context"


def test_an_openai_compatible_engine_shows_what_the_console_sends(hf, member_client):
    url = hf.add_engine("qwen", "vllm")
    model = create_endpoint_model(
        url, display_name="vLLM", path="", engine="vllm", served_model="Qwen/Qwen2.5-7B-Instruct"
    )
    words = page_placeholders(member_client, model)
    assert words["empty"]["max_new_tokens"] == "256"
    assert words["greedy"]["temperature"] == "0: no sampling"
    assert words["empty"]["top_k"] == "engine default"
    run_empty(member_client, model)  # Sampling unticked
    body = json.loads(hf.requests[-1]["body"])
    assert body["max_tokens"] == 256 and body["temperature"] == 0
    run_empty(member_client, model, do_sample="on")
    body = json.loads(hf.requests[-1]["body"])
    assert body["max_tokens"] == 256 and "temperature" not in body  # the engine's default, as the placeholder says


def test_chat_engines_and_hosted_models_get_a_neutral_word(hf):
    chat = create_endpoint_model(hf.base, display_name="llama", task="chat", engine="llamacpp")
    router = create_model(display_name="router", endpoint_type="inference_providers", task="chat", repo_id="m/x")
    hosted = create_model(display_name="hosted")
    assert set(defaults.placeholders(chat)["empty"].values()) == {"engine default"}
    assert set(defaults.placeholders(router)["empty"].values()) == {"provider default"}
    assert set(defaults.placeholders(hosted)["empty"].values()) == {"model default"}


def test_placeholders_are_said_in_chinese(hf):
    model = create_endpoint_model(hf.base, display_name="TGI", engine="tgi")
    with translation.override("zh-hans"):
        words = defaults.placeholders(model)
    assert words["empty"]["max_new_tokens"] == "上下文的剩余部分"
    assert words["empty"]["seed"] == "随机"
    assert words["greedy"]["temperature"] == "不采样时不用"


def test_embedding_models_carry_no_placeholders(hf, member_client):
    tei = create_endpoint_model(hf.add_engine("bge", "tei"), "bge", task="feature-extraction", path="", engine="tei")
    assert page_placeholders(member_client, tei) is None


def live_words(client, model):
    response = client.get(reverse("model_defaults", args=[model.pk]))
    assert response.status_code == 200
    return response.json()["placeholders"]


def test_llama_cpp_says_its_own_sampling_defaults_and_the_console_leaves_them_to_it(hf, member_client):
    url = hf.add_engine("llama", "llamacpp")
    model = create_endpoint_model(url, display_name="llama", path="", task="chat", engine="llamacpp")
    assert page_placeholders(member_client, model)["empty"]["temperature"] == "engine default"  # until it says
    words = live_words(member_client, model)
    # The emulator's /props: default_generation_settings.params {"temperature": 0.8, "top_p": 0.95}
    assert words["empty"]["temperature"] == "0.8" and words["empty"]["top_p"] == "0.95"
    assert words["empty"]["top_k"] == "engine default"  # not in its /props: not guessed
    asked = len([r for r in hf.requests if r["path"].endswith("/props")])
    live_words(member_client, model)
    assert len([r for r in hf.requests if r["path"].endswith("/props")]) == asked  # cached
    run_empty(member_client, model, stream="on")
    body = json.loads(hf.requests[-1]["body"])
    assert "temperature" not in body and "top_p" not in body  # left to the engine, which applies what it said


def test_tgi_is_asked_its_context_when_no_test_read_it(hf, member_client):
    model = create_endpoint_model(hf.base, display_name="TGI", engine="tgi")
    assert page_placeholders(member_client, model)["empty"]["max_new_tokens"] == "rest of the context"
    assert live_words(member_client, model)["empty"]["max_new_tokens"] == "up to 2,048 − prompt"


def test_an_engine_that_cannot_answer_keeps_the_documented_words(hf, member_client):
    url = hf.add_engine("llama", "llamacpp", loading=True)  # 503 "Loading model" on every route
    model = create_endpoint_model(url, display_name="llama", path="", task="chat", engine="llamacpp")
    assert set(live_words(member_client, model)["empty"].values()) == {"engine default"}


def test_a_hugging_face_endpoint_is_never_woken_for_a_hint(hf, member_client):
    model = create_endpoint_model(
        "https://my-tgi.us-east-1.aws.endpoints.huggingface.cloud", display_name="TGI", path="", engine="tgi"
    )
    assert not defaults.has_live_facts(model)
    assert page_placeholders(member_client, model) is not None
    assert live_words(member_client, model)["empty"]["max_new_tokens"] == "rest of the context"


def test_a_member_cannot_read_a_disabled_models_defaults(hf, member_client):
    model = create_endpoint_model(hf.base, display_name="TGI", engine="tgi", enabled=False)
    assert member_client.get(reverse("model_defaults", args=[model.pk])).status_code == 404
