"""An image attached to a playground chat message reaches a model that reads images, stays in the conversation's
history, and is refused (with words for people) for a model that does not, or when it is too large."""

import base64
import json

import pytest
from django.urls import reverse

from providers.models import PlaygroundRun
from providers.playground.runs import run_title
from tests.conftest import create_endpoint_model, create_model

pytestmark = pytest.mark.django_db
IMAGE = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100).decode()


def run(client, model, **fields):
    data = {"model": model.pk, "prompt": "What is this?", "max_new_tokens": "4", "stream": "on", **fields}
    return client.post(reverse("playground_run"), data)


def lines(response):
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines() if line]


@pytest.fixture
def vision(hf, provider_token):
    hf.add_model(
        "Qwen/Qwen2.5-VL-7B-Instruct",
        warm=False,
        providers={"together": "live"},
        tags=["conversational"],
        modalities=["text", "image"],
    )
    return create_model(
        display_name="vision", endpoint_type="inference_providers", task="chat", repo_id="Qwen/Qwen2.5-VL-7B-Instruct"
    )


def test_an_attached_image_reaches_a_vision_model_and_stays_in_history(hf, member_client, vision):
    evts = lines(run(member_client, vision, image=IMAGE))
    assert evts[-1]["type"] == "done", evts
    assert "".join(e["text"] for e in evts if e["type"] == "token").startswith("I see 1 image(s)")
    sent = json.loads([r for r in hf.requests if r["path"].endswith("/chat/completions")][-1]["body"])
    assert sent["messages"][-1]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": IMAGE}},
    ]
    saved = PlaygroundRun.objects.get()
    assert saved.messages[-1]["content"][1]["image_url"]["url"] == IMAGE
    assert run_title(saved) == "What is this?"
    # The next turn sends the conversation back, image included, and it is accepted
    history = json.dumps(saved.messages + [{"role": "assistant", "content": saved.output}])
    follow_up = lines(run(member_client, vision, prompt="And now?", messages=history))
    assert follow_up[-1]["type"] == "done"


def test_an_image_for_a_model_that_reads_none_is_refused_in_words(hf, member_client, provider_token):
    model = create_endpoint_model(hf.base, display_name="text chat", task="chat")
    response = run(member_client, model, image=IMAGE)
    assert response.status_code == 400
    assert "does not read images" in response.json()["errors"]["image"][0]["message"]


def test_a_too_large_or_foreign_image_is_refused(hf, member_client, vision, settings):
    settings.API_MAX_IMAGE_BYTES = 50
    response = run(member_client, vision, image=IMAGE)
    assert response.status_code == 400 and "too large" in response.json()["errors"]["image"][0]["message"]
    response = run(member_client, vision, image="data:text/html;base64,PGI+")
    assert response.status_code == 400 and "image" in response.json()["errors"]


def test_the_page_says_which_models_read_images(hf, member_client, vision, provider_token):
    from providers.huggingface import catalog, transport

    catalog.router_items(None, transport.Deadline(5))  # the catalog as the page finds it cached
    create_endpoint_model(hf.base, display_name="text chat", task="chat")
    page = member_client.get(reverse("playground"))
    models = {
        m["name"]: m
        for m in json.loads(
            page.content.decode().split('id="models-data" type="application/json">')[1].split("</script>")[0]
        )
    }
    assert models["vision"]["images"] is True and models["text chat"]["images"] is False
    assert 'id="image-attach"' in page.content.decode()
