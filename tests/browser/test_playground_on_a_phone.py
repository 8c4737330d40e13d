"""The playground at a phone's width: parameters folded, the answer on screen as it arrives, Ctrl+Enter runs, every
navigation item visible, and a huge answer kept in a scrolling box instead of growing the page."""

import pytest
from playwright.sync_api import expect

from tests.browser.scripted_runs import answer_runs_with
from tests.conftest import create_endpoint_model, create_model, login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(10000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors


def test_a_chat_answer_arrives_on_screen_and_ctrl_enter_sends(phone, hf, provider_token):
    member = make_user("mia", "Member")
    chat = create_model(
        display_name="Llama chat",
        endpoint_type="inference_providers",
        task="chat",
        repo_id="meta-llama/Llama-3.1-8B-Instruct",
    )
    login(phone, member.username)
    phone.select_option("#id_model", str(chat.pk))
    expect(phone.locator("#params-panel")).to_be_hidden()  # the parameters start folded
    expect(phone.locator("#params-toggle")).to_have_attribute("aria-expanded", "false")
    for turn in range(3):  # a conversation long enough to push the composer down
        phone.fill("#id_prompt", f"Why is the sky blue, part {turn}")
        phone.locator("#id_prompt").press("Control+Enter")
        expect(phone.locator("#conversation .bubble.assistant")).to_have_count(turn + 1)
        expect(phone.locator("#run")).to_be_enabled()
    last = phone.locator("#conversation .bubble.assistant").last.bounding_box()
    assert last["y"] >= 0 and last["y"] < PHONE["height"], last


def test_every_navigation_item_is_on_screen(phone, admin_user):
    login(phone, admin_user.username)
    links = phone.locator("nav.mainnav a")
    assert links.count() >= 4
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (links.nth(i).text_content(), box)


def test_a_huge_answer_scrolls_in_its_box(phone, hf, provider_token):
    member = make_user("mia", "Member")
    model = create_endpoint_model(hf.base, display_name="TGI")
    lines = [
        {"type": "start", "model": "TGI", "stream": True, "run": None},
        {"type": "token", "text": "word " * 200000},
        {
            "type": "done",
            "figures": {
                "latency_ms": 10,
                "ttft_ms": 5,
                "generated_tokens": 200000,
                "tokens_per_second": None,
                "finish_reason": "length",
            },
        },
    ]
    login(phone, member.username)
    answer_runs_with(phone, lines)
    phone.select_option("#id_model", str(model.pk))
    phone.fill("#id_prompt", "Say a lot")
    phone.click("#run")
    expect(phone.locator('#figures [data-figure="tokens"]')).to_have_text("200,000")
    sizes = phone.evaluate(
        "() => ({page: document.documentElement.scrollHeight, box: document.getElementById('output').clientHeight,"
        " inner: document.getElementById('output').scrollHeight})"
    )
    assert sizes["inner"] > sizes["box"] * 10 and sizes["page"] < 6 * PHONE["height"], sizes
