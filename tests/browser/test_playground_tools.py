"""Tools in the playground's chat, as a person uses them: define a tool (the example), run, see the call as its own
bubble with its arguments, answer it and get the final answer; a mistake in the definitions is named and what was
typed stays; reopened from history the call shows again; at a phone's width nothing is wider than the screen."""

import json

import pytest
from playwright.sync_api import expect

from providers.models import PlaygroundRun, RunStatus, Task
from tests.browser.shots import keep
from tests.browser.snippets import new_key, run_snippet
from tests.conftest import create_endpoint_model, login, make_user, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def tgi_chat(hf, provider_token):
    return create_endpoint_model(hf.base, display_name="TGI chat", task=Task.CHAT)


def _define_and_call(page, model):
    page.select_option("#id_model", str(model.pk))
    page.click("#tools-panel summary")
    page.click("#tools-example")
    expect(page.locator("#id_tool_choice option[value=get_weather]")).to_have_count(1)
    expect(page.locator("#tools-panel .tools-count")).to_have_text("· 1 defined")
    page.fill("#id_prompt", "Weather in Paris?")
    page.click("#run")
    call = page.locator("#conversation .bubble.tool-call")
    expect(call.locator(".who")).to_have_text("Tool call: get_weather")
    expect(call.locator(".tool-args")).to_have_text(json.dumps({"city": "Paris"}, indent=2))
    expect(page.locator("#figures [data-figure=finish]")).to_have_text("tool call")
    return call


def test_a_person_defines_a_tool_sees_the_call_answers_it_and_gets_the_answer(page, hf, tgi_chat):
    login(page, make_user("mia", "Member").username)
    hf.token_delay = 0.02
    call = _define_and_call(page, tgi_chat)
    page.fill("#conversation .tool-answer textarea", "18 degrees")
    page.click("#conversation .tool-answer button")
    expect(page.locator("#conversation .bubble.tool-result .tool-args")).to_have_text("18 degrees")
    expect(page.locator("#conversation .bubble.assistant .text").last).to_have_text("The tool said: 18 degrees")
    expect(page.locator("#conversation .tool-answer")).to_have_count(0)  # answered: no box left
    keep(page, "playground-tool-call-answered")
    expect(call).to_have_count(1)
    assert wait_for(lambda: PlaygroundRun.objects.filter(status=RunStatus.OK).count() == 2, 5)
    first, second = PlaygroundRun.objects.order_by("created_at")
    assert first.tool_calls[0]["function"]["name"] == "get_weather"
    assert second.messages[-1] == {"role": "tool", "tool_call_id": first.tool_calls[0]["id"], "content": "18 degrees"}

    # Reopened from history: the same bubbles, and the tools back in the panel
    page.reload()
    page.locator("#id_tools").evaluate('node => { node.value = ""; }')
    page.locator("#history .open-run").first.click()
    expect(page.locator("#conversation .bubble.tool-call .who")).to_have_text("Tool call: get_weather")
    expect(page.locator("#conversation .bubble.assistant .text").last).to_have_text("The tool said: 18 degrees")
    assert json.loads(page.input_value("#id_tools"))[0]["function"]["name"] == "get_weather"


@pytest.fixture
def page_with_refusals(browser, live_server):
    """A page whose refused posts (the form's 400, which Chromium logs as a failed load) are expected; script
    errors still fail the test."""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors


def test_invalid_tools_are_named_and_what_was_typed_stays(page_with_refusals, hf, tgi_chat):
    page = page_with_refusals
    login(page, make_user("mia", "Member").username)
    page.select_option("#id_model", str(tgi_chat.pk))
    page.click("#tools-panel summary")
    typed = '[{"type": "function", "function": {"name": "get_weather"}'
    page.fill("#id_tools", typed)
    page.click("#tools-panel summary")  # folded again: the error opens it
    page.fill("#id_prompt", "Weather in Paris?")
    page.click("#run")
    expect(page.locator("[data-errors-for=tools] li")).to_contain_text("The tools are not valid JSON")
    assert page.locator("#tools-panel").get_attribute("open") is not None
    assert page.input_value("#id_tools") == typed
    assert page.input_value("#id_prompt") == "Weather in Paris?"


def test_tool_calls_fit_a_phone(browser, live_server, hf, tgi_chat):
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(10000)
    try:
        login(page, make_user("mia", "Member").username)
        _define_and_call(page, tgi_chat)
        expect(page.locator("#conversation .tool-answer textarea")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
        for selector in ("#conversation .bubble.tool-call", "#tools-panel", "#conversation .tool-answer button"):
            box = page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)
    finally:
        context.close()


def test_the_code_snippets_carry_the_tools_and_print_the_call(page, live_server, hf, tgi_chat):
    """ "Use this model in code" sends the Tools panel's definitions and choice, and prints the call the model makes
    (a snippet without them printed None for a run that had called a tool)."""
    login(page, make_user("mia", "Member").username)
    key = new_key(page)
    page.goto("/playground/")
    page.select_option("#id_model", str(tgi_chat.pk))
    page.click("#tools-panel summary")
    page.click("#tools-example")
    page.select_option("#id_tool_choice", "get_weather")
    page.fill("#id_prompt", "Weather in Paris?")
    page.click("#api-code summary")
    snippet = page.locator("#api-code-snippet")
    expect(snippet).to_contain_text('"tool_choice": {')
    body = json.loads(snippet.inner_text().split("-d '", 1)[1].rsplit("'", 1)[0])
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    for kind, stream in (("openai", False), ("hf", False), ("openai", True), ("hf", True)):
        page.locator("#id_stream").set_checked(stream)
        page.click(f"[data-snippet={kind}]")
        code = snippet.inner_text()
        assert live_server.url + "/v1" in code and "tool_choice=" in code, code
        printed = run_snippet(code, key)
        assert printed.replace(" ", "").startswith('get_weather{"city":"Paris"}'), (kind, stream, printed)
