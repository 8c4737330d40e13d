"""image_url content parts (https and data: URLs) reach the models that take images, as sent; a model that takes
none, an image too large or a URL of another kind gets a 400 naming the part (hf-protocol.md §15)."""

import base64
import json

import pytest
from django.test import Client

from providers.models import Task
from tests.conftest import create_endpoint_model, create_model

PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200).decode()


def ask(url):
    return [
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}],
        }
    ]


def post(key, body):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.post("/v1/chat/completions", json.dumps(body), content_type="application/json")


def sent(hf, path_end):
    return json.loads([r for r in hf.requests if r["path"].endswith(path_end)][-1]["body"])


@pytest.fixture
def models(hf, provider_token):
    hf.add_model(
        "Qwen/Qwen2.5-VL-7B-Instruct",
        warm=False,
        providers={"together": "live"},
        tags=["conversational"],
        modalities=["text", "image"],
    )
    create_model(
        display_name="vision",
        endpoint_type="inference_providers",
        task=Task.CHAT,
        repo_id="Qwen/Qwen2.5-VL-7B-Instruct",
    )
    create_model(
        display_name="text only",
        endpoint_type="inference_providers",
        task=Task.CHAT,
        repo_id="meta-llama/Llama-3.1-8B-Instruct",
    )
    hf.add_endpoint("vlm", vision=True)
    create_endpoint_model(hf.base, display_name="tgi vlm", task=Task.CHAT, path="/ep/vlm", accepts_images=True)
    create_endpoint_model(hf.base, display_name="tgi text chat", task=Task.CHAT)
    hf.add_engine("vllm", "vllm", vision=True)
    create_endpoint_model(hf.base, display_name="vllm vlm", task=Task.CHAT, path="/srv/vllm", accepts_images=True)


@pytest.mark.parametrize(
    "model, path",
    [
        ("vision", "/router/v1/chat/completions"),
        ("tgi-vlm", "/ep/vlm/v1/chat/completions"),
        ("vllm-vlm", "/srv/vllm/v1/chat/completions"),
    ],
)
@pytest.mark.parametrize("url", ["https://example.com/cat.png", f"data:image/png;base64,{PIXEL}"])
def test_an_image_reaches_a_model_that_takes_images_as_sent(hf, member_key, models, model, path, url):
    messages = ask(url)
    response = post(member_key, {"model": model, "messages": messages})
    assert response.status_code == 200, response.content
    assert response.json()["choices"][0]["message"]["content"].startswith("I see 1 image(s)")
    assert sent(hf, path)["messages"] == messages


def test_an_image_is_streamed_to_a_vision_model(hf, member_key, models):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {member_key}")
    body = {"model": "vision", "messages": ask("https://example.com/cat.png"), "stream": True}
    response = client.post("/v1/chat/completions", json.dumps(body), content_type="application/json")
    raw = b"".join(response.streaming_content).decode()
    text = "".join(
        (json.loads(line[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
        for line in raw.split("\n\n")
        if line.startswith("data: {")
    )
    assert text.startswith("I see 1 image(s)")


@pytest.mark.parametrize("model", ["text-only", "tgi-text-chat"])
def test_a_model_that_takes_no_images_refuses_them_by_name(hf, member_key, models, model):
    before = len(hf.requests)
    response = post(member_key, {"model": model, "messages": ask("https://example.com/cat.png")})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "messages[0].content[1].image_url" and error["code"] == "image_input_unsupported"
    assert "image" in error["message"]
    assert not [r for r in hf.requests[before:] if "chat/completions" in r["path"]]  # never sent


def test_an_image_over_the_size_limit_is_refused_naming_the_limit(hf, member_key, models, settings):
    settings.API_MAX_IMAGE_BYTES = 100
    response = post(member_key, {"model": "vision", "messages": ask(f"data:image/png;base64,{PIXEL}")})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "messages[0].content[1].image_url"
    assert "208" in error["message"] and "100" in error["message"]


@pytest.mark.parametrize("url", ["http://example.com/cat.png", "data:text/plain;base64,aGk=", "file:///etc/passwd"])
def test_an_image_url_of_another_kind_is_refused(hf, member_key, models, url):
    response = post(member_key, {"model": "vision", "messages": ask(url)})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages[0].content[1].image_url"


def test_models_say_which_take_images(hf, member_key, models):
    listed = Client(HTTP_AUTHORIZATION=f"Bearer {member_key}").get("/v1/models").json()["data"]
    images = {m["id"]: m["capabilities"]["images"] for m in listed}
    assert images == {"vision": True, "text-only": False, "tgi-vlm": True, "tgi-text-chat": False, "vllm-vlm": True}


@pytest.mark.parametrize("kind", ["llamacpp", "tgi"])
def test_a_server_that_says_it_reads_images_marks_its_model(hf, admin_client, provider_token, kind):
    from django.urls import reverse

    from providers.models import HFModel

    if kind == "llamacpp":
        hf.add_engine("lcpp", "llamacpp", vision=True)  # llama-server --mmproj: /props modalities.vision
        model = create_endpoint_model(hf.base, display_name="lcpp", task=Task.CHAT, path="/srv/lcpp")
    else:
        hf.add_endpoint("vlm", vision=True)  # TGI /info: model_pipeline_tag image-text-to-text
        model = create_endpoint_model(hf.base, display_name="tgi vlm", task=Task.CHAT, path="/ep/vlm")
    assert not model.accepts_images
    result = admin_client.post(reverse("model_test", args=[model.pk])).json()
    assert result["ok"] is True, result
    assert HFModel.objects.get(pk=model.pk).accepts_images is True


def test_a_text_only_llamacpp_server_leaves_the_mark_off(hf, admin_client, provider_token):
    from django.urls import reverse

    from providers.models import HFModel

    hf.add_engine("lcpp", "llamacpp")
    model = create_endpoint_model(hf.base, display_name="lcpp", task=Task.CHAT, path="/srv/lcpp")
    assert admin_client.post(reverse("model_test", args=[model.pk])).json()["ok"] is True
    assert HFModel.objects.get(pk=model.pk).accepts_images is False


def test_when_the_routers_catalog_cannot_be_read_the_provider_answers_for_itself(hf, member_key, models):
    hf.fault(r"^/router/v1/models$", "status", times=5, status=500, body={"error": "down"})
    response = post(member_key, {"model": "vision", "messages": ask("https://example.com/cat.png")})
    assert response.status_code == 200, response.content  # not refused as "takes no images": not known
    refused = post(member_key, {"model": "text-only", "messages": ask("https://example.com/cat.png")})
    assert refused.status_code == 400  # the provider's own refusal, relayed
