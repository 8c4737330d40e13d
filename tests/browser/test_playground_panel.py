"""The playground's parameters panel in headless Chromium: beside the chat on a wide screen, folded and unfolded by
its button (mouse and keyboard) and remembered across a reload; on a phone folded at first and opened as a sheet
that leaves the answer where it was; each empty field's grey text follows the chosen model, in English and in
Chinese (no English words on the Chinese page); a parameter's error shows by its field, in the panel."""

import json
import os
import re

import pytest
from playwright.sync_api import expect

from providers.settings_screen.connection_test import record_test, run_test
from tests.browser.shots import keep
from tests.browser.test_screens import ALLOWED_WORDS, LONG_WORD
from tests.conftest import create_endpoint_model, create_model, login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
FIELDS = ["max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "stop_sequences", "seed"]


@pytest.fixture
def models_ok(hf, provider_token):
    tgi = create_endpoint_model(hf.base, display_name="A TGI")  # first by name: the page opens on it
    record_test(tgi, run_test(tgi), None)  # Test connection reads TGI's /info: 2,048 tokens served
    url = hf.add_engine("qwen", "vllm")
    vllm = create_endpoint_model(
        url, display_name="B vLLM", path="", engine="vllm", served_model="Qwen/Qwen2.5-7B-Instruct"
    )
    return tgi, vllm


def keep_screen(page, name):
    """The screen as the person sees it: a full page would draw the fixed sheet in the page's middle."""
    if os.environ.get("SCREENSHOTS_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOTS_DIR"], f"{name}.png"))


def open_page(browser, live_server, viewport, language="en"):
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=viewport)
    context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(10000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    make_user("mia", "Member")
    login(page, "mia")
    page.goto("/playground/")
    return page, errors


def placeholder(page, name):
    return page.locator(f"#id_{name}").get_attribute("placeholder")


def test_the_panel_sits_beside_the_chat_folds_and_remembers(browser, live_server, models_ok):
    page, errors = open_page(browser, live_server, DESKTOP)
    panel, toggle = page.locator("#params-panel"), page.locator("#params-toggle")
    expect(panel).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_have_attribute("aria-controls", "params-panel")
    chat = page.locator("section.card.grow").bounding_box()
    beside = panel.bounding_box()
    assert beside["x"] >= chat["x"] + chat["width"] and beside["y"] < chat["y"] + 50, (chat, beside)
    toggle.click()
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert page.locator("section.card.grow").bounding_box()["width"] > chat["width"]  # the chat takes the room
    page.reload()
    expect(page.locator("#params-panel")).to_be_hidden()  # remembered
    page.locator("#params-toggle").focus()
    page.keyboard.press("Enter")  # a button: the keyboard works it too
    expect(page.locator("#params-panel")).to_be_visible()
    page.reload()
    expect(page.locator("#params-panel")).to_be_visible()
    page.locator("#params-panel .params-close").click()
    expect(page.locator("#params-panel")).to_be_hidden()
    expect(page.locator("#params-toggle")).to_be_focused()
    page.context.close()
    assert not errors, errors


def test_the_grey_text_follows_the_model_and_sampling(browser, live_server, models_ok, hf):
    tgi, vllm = models_ok
    page, errors = open_page(browser, live_server, DESKTOP)
    page.select_option("#id_model", str(tgi.pk))
    assert placeholder(page, "max_new_tokens") == "up to 2,048 − prompt"
    assert placeholder(page, "temperature") == "not used: no sampling"  # Sampling starts unticked
    page.check("#id_do_sample")
    assert placeholder(page, "temperature") == "1"
    page.select_option("#id_model", str(vllm.pk))
    assert placeholder(page, "max_new_tokens") == "256"
    assert placeholder(page, "top_k") == "engine default"
    page.uncheck("#id_do_sample")
    assert placeholder(page, "temperature") == "0: no sampling"
    # The run sends what the grey text said: 256 tokens, temperature 0. Ctrl+Enter in the panel's text runs too.
    page.fill("#id_prompt", "Why is the sky blue")
    page.locator("#id_stop_sequences").press("Control+Enter")
    expect(page.locator('#figures [data-figure="latency"]')).to_be_visible()
    body = json.loads(hf.requests[-1]["body"])
    assert body["max_tokens"] == 256 and body["temperature"] == 0
    page.context.close()
    assert not errors, errors


def test_the_grey_text_takes_what_the_engine_says_without_making_typing_wait(browser, live_server, models_ok, hf):
    url = hf.add_engine("llama", "llamacpp")
    llama = create_endpoint_model(url, display_name="C llama", path="", task="chat", engine="llamacpp")
    page, errors = open_page(browser, live_server, DESKTOP)
    page.select_option("#id_model", str(llama.pk))
    page.fill("#id_prompt", "typed at once")  # the page does not wait for the engine's answer
    expect(page.locator("#id_temperature")).to_have_attribute("placeholder", "0.8")  # its /props says so
    expect(page.locator("#id_top_p")).to_have_attribute("placeholder", "0.95")
    assert placeholder(page, "max_new_tokens") == "engine default"
    page.context.close()
    assert not errors, errors


def test_a_parameter_error_shows_by_its_field_in_the_panel(browser, live_server, models_ok):
    page, errors = open_page(browser, live_server, DESKTOP)
    page.locator("#params-toggle").click()  # folded: the error opens it
    expect(page.locator("#params-panel")).to_be_hidden()
    page.fill("#id_prompt", "Why is the sky blue")
    page.evaluate("document.getElementById('id_top_p').value = '5'")
    page.click("#run")
    expect(page.locator("#params-panel")).to_be_visible()
    expect(page.locator('#params-panel [data-errors-for="top_p"] li')).to_have_count(1)
    expect(page.locator('#playground-form [data-errors-for="__all__"] li')).to_have_count(0)
    page.context.close()
    assert not errors, errors


def expect_answer_above_the_sheet(page, answer):
    """The answer (its top at least) is on screen, above the sheet that covers the bottom of the screen."""
    sheet = page.locator("#params-panel").bounding_box()
    assert sheet["height"] <= PHONE["height"] * 0.51 and sheet["y"] + sheet["height"] <= PHONE["height"] + 1, sheet
    box = answer.bounding_box()
    assert 0 <= box["y"] and box["y"] + min(box["height"], 40) <= sheet["y"] + 1, (box, sheet)


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_on_a_phone_the_sheet_opens_without_hiding_the_answer(browser, live_server, models_ok, mode):
    if mode == "chat":
        chat = create_model(
            display_name="0 Llama chat",  # first by name: the page opens on it
            endpoint_type="inference_providers",
            task="chat",
            repo_id="meta-llama/Llama-3.1-8B-Instruct",
        )
    page, errors = open_page(browser, live_server, PHONE)
    panel, toggle = page.locator("#params-panel"), page.locator("#params-toggle")
    expect(panel).to_be_hidden()  # folded: the conversation and the composer are what the screen shows
    for turn in range(3 if mode == "chat" else 1):  # a conversation long enough to push the composer down
        page.fill("#id_prompt", f"Why is the sky blue, part {turn}")
        page.locator("#id_prompt").press("Control+Enter")
        expect(page.locator("#run")).to_be_enabled()
    expect(page.locator('#figures [data-figure="latency"]')).to_be_visible()
    answer = page.locator("#conversation .bubble.assistant").last if mode == "chat" else page.locator("#output")
    if mode == "chat":
        expect(answer).to_contain_text("sky")
        assert chat.pk
    answer.scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")  # the answer at the screen's top
    toggle.click()
    expect(panel).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect_answer_above_the_sheet(page, answer)
    keep_screen(page, f"playground-panel-sheet-{mode}-phone")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(toggle).to_be_focused()
    page.context.close()
    assert not errors, errors


ENGLISH = re.compile(r"[A-Za-z]{3,}")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_panel_in_both_languages(browser, live_server, models_ok, language, width):
    tgi, vllm = models_ok
    page, errors = open_page(browser, live_server, DESKTOP if width == "desktop" else PHONE, language)
    if width == "phone":
        page.locator("#params-toggle").click()
    for model in (tgi, vllm):
        page.select_option("#id_model", str(model.pk))
        for name in FIELDS:
            words = placeholder(page, name)
            assert words, name
            if language == "zh-hans":
                assert not [w for w in ENGLISH.findall(words) if w not in ALLOWED_WORDS], (name, words)
    if language == "zh-hans":
        text = page.locator("#params-panel").inner_text() + page.locator("#params-toggle").inner_text()
        assert not [w for w in LONG_WORD.findall(text) if w not in ALLOWED_WORDS], text
    page.select_option("#id_model", str(tgi.pk))
    if width == "desktop":
        keep(page, f"playground-panel-{language}-{width}")
    else:
        keep_screen(page, f"playground-panel-{language}-{width}")
    page.context.close()
    assert not errors, errors
