"""Stop in the playground: the run keeps exactly the text the page showed, the history item says "stopped" without
a reload, and the notice is not styled as a failure; in a chat the partial answer stays in the conversation."""

import re

import pytest
from playwright.sync_api import expect

from providers.models import PlaygroundRun, RunStatus
from tests.conftest import create_model, login, make_user, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _saved(run_filter=None):
    run = PlaygroundRun.objects.order_by("-created_at").first()
    return run if run and run.status != RunStatus.RUNNING else None


def _stop_after_some_text(page, output_selector):
    output = page.locator(output_selector)
    expect(output).to_have_text(re.compile(r"^The sky is"))
    page.click("#stop")
    expect(page.locator("#error")).to_have_attribute("data-category", "stopped")
    shown = page.locator(output_selector).text_content()
    page.wait_for_timeout(600)  # tokens that were on their way when Stop was pressed
    assert page.locator(output_selector).text_content() == shown
    return shown


def test_a_stopped_run_keeps_exactly_what_the_page_showed(page, hf, provider_token):
    member = make_user("mia", "Member")
    tgi = create_model(
        display_name="TGI",
        endpoint_type="inference_endpoint",
        repo_id="",
        task="text-generation",
        endpoint_url=hf.base + "/ep/tgi",
    )
    login(page, member.username)
    page.select_option("#id_model", str(tgi.pk))
    page.fill("#id_prompt", "Why is the sky blue")
    page.fill("#id_max_new_tokens", "150")
    hf.token_delay = 0.05
    page.click("#run")
    shown = _stop_after_some_text(page, "#output")

    assert wait_for(lambda: _saved() is not None and _saved().output == shown, 5), _saved() and _saved().output
    run = _saved()
    assert run.status == RunStatus.STOPPED and run.generated_tokens is None
    item = page.locator(f'#history li[data-run="{run.pk}"]')
    expect(item.locator(".badge")).to_have_text("stopped")  # refreshed in place, no reload
    assert "error" not in page.locator("#error").get_attribute("class")


def test_a_stopped_chat_answer_stays_in_the_conversation_as_saved(page, hf, provider_token):
    member = make_user("mia", "Member")
    chat = create_model(
        display_name="Llama chat",
        endpoint_type="inference_providers",
        task="chat",
        repo_id="meta-llama/Llama-3.1-8B-Instruct",
    )
    login(page, member.username)
    page.select_option("#id_model", str(chat.pk))
    page.fill("#id_prompt", "Why is the sky blue")
    page.fill("#id_max_new_tokens", "150")
    hf.token_delay = 0.05
    page.click("#run")
    shown = _stop_after_some_text(page, "#conversation .bubble.assistant .text")

    assert wait_for(lambda: _saved() is not None and _saved().output == shown, 5), _saved() and _saved().output
    expect(page.locator("#conversation .bubble.assistant .text")).to_have_text(shown)
    expect(page.locator("#conversation .bubble.user .text")).to_have_text("Why is the sky blue")
