"""The playground's image attachment: a picture chosen for a chat message is previewed, sent with the message to
a model that reads images, and shown in the conversation; a file too large is refused before anything is sent."""

import base64
import os
import struct
import zlib

import pytest
from playwright.sync_api import expect

from providers.huggingface import catalog, transport
from tests.browser.snippets import PYTHON, SHELL, new_key, run_snippet
from tests.conftest import create_model, login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def png(width=96, height=64):
    """A real PNG picture (a blue gradient), large enough to see in a screenshot."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (40, 90 + x % 120, 200)) for _y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = png()
PNG_BASE64 = base64.b64encode(PNG).decode()


@pytest.fixture
def vision(hf, provider_token):
    hf.add_model(
        "Qwen/Qwen2.5-VL-7B-Instruct",
        warm=False,
        providers={"together": "live"},
        tags=["conversational"],
        modalities=["text", "image"],
    )
    catalog.router_items(None, transport.Deadline(5))  # the router's catalog as the page finds it cached
    text = create_model(
        display_name="text only",
        endpoint_type="inference_providers",
        task="chat",
        repo_id="meta-llama/Llama-3.1-8B-Instruct",
    )
    model = create_model(
        display_name="vision", endpoint_type="inference_providers", task="chat", repo_id="Qwen/Qwen2.5-VL-7B-Instruct"
    )
    return model, text


def test_an_image_is_previewed_sent_and_shown_in_the_chat(page, hf, vision, tmp_path):
    model, text = vision
    picture = tmp_path / "dot.png"
    picture.write_bytes(PNG)
    login(page, make_user("mia", "Member").username)
    page.select_option("#id_model", str(text.pk))
    expect(page.locator("#image-attach")).to_be_hidden()  # a model that reads no images offers no attachment
    page.select_option("#id_model", str(model.pk))
    expect(page.locator("#image-attach")).to_be_visible()
    page.set_input_files("#image-file", str(picture))
    expect(page.locator("#image-attach .image-preview img")).to_be_visible()
    page.fill("#id_prompt", "What is this?")
    page.click("#run")
    expect(page.locator("#conversation .bubble.assistant .text")).to_have_text("I see 1 image(s) (data).")
    expect(page.locator("#conversation .bubble.user img.bubble-image")).to_have_count(1)
    expect(page.locator("#conversation .bubble.user .text")).to_have_text("What is this?")
    expect(page.locator("#image-attach .image-preview")).to_be_hidden()  # the next message starts without it
    if os.environ.get("SCREENSHOTS_DIR"):  # `make screenshots` looks at it too
        page.set_input_files("#image-file", str(picture))
        page.screenshot(path=os.path.join(os.environ["SCREENSHOTS_DIR"], "playground-image-chat.png"), full_page=True)


def test_a_too_large_image_is_refused_on_the_page(page, hf, vision, tmp_path, settings):
    model, _text = vision
    picture = tmp_path / "big.png"
    picture.write_bytes(PNG)
    settings.API_MAX_IMAGE_BYTES = 100
    login(page, make_user("mia", "Member").username)
    page.select_option("#id_model", str(model.pk))
    page.set_input_files("#image-file", str(picture))
    expect(page.locator("#image-attach [data-errors-for=image] li")).to_contain_text("too large")
    expect(page.locator("#image-attach .image-preview")).to_be_hidden()


def test_the_code_snippets_send_the_attached_image_from_its_file(page, live_server, hf, vision, tmp_path):
    """ "Use this model in code" with an image attached reads the image from its file (its base64 would make the
    snippet as long as the image is large): curl, openai and huggingface_hub each run as shown beside the file."""
    model, _text = vision
    picture = tmp_path / "dot's.png"  # a quote in the name: the shell and Python quoting both hold
    picture.write_bytes(PNG)
    login(page, make_user("mia", "Member").username)
    key = new_key(page)
    page.goto("/playground/")
    page.select_option("#id_model", str(model.pk))
    page.locator("#id_stream").set_checked(False)
    page.fill("#id_prompt", "What is this?")
    page.click("#api-code summary")
    snippet = page.locator("#api-code-snippet")
    expect(snippet).not_to_contain_text("image_url")
    page.set_input_files("#image-file", str(picture))
    expect(snippet).to_contain_text("base64")
    for kind, command in (("curl", SHELL), ("openai", PYTHON), ("hf", PYTHON)):
        page.click(f"[data-snippet={kind}]")
        code = snippet.inner_text()
        assert len(code) < 2000 and PNG_BASE64[:40] not in code, code  # the file is read, not pasted
        printed = run_snippet(code, key, command, cwd=tmp_path)
        assert "I see 1 image(s) (data)." in printed, (kind, printed)
    page.click("#image-attach .image-remove")
    expect(snippet).not_to_contain_text("base64")
