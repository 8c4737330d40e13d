"""The playground page in headless Chromium says, in words, what it waits for and every failure it can meet."""

import re

import pytest
from playwright.sync_api import expect

from providers.core import roles
from providers.models import PlaygroundRun, RunStatus
from tests.conftest import create_endpoint_model, login, make_user
from tests.fault_upstream import HTML_500, FaultUpstream

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def faulty(hf):
    server = FaultUpstream().start()
    yield server
    server.stop()


def start_run(page, model):
    page.goto("/playground/")
    page.select_option("#id_model", str(model.pk))
    page.fill("#id_prompt", "Why is the sky blue")
    page.click("#run")


def test_the_page_shows_what_a_silent_run_waits_for_and_a_cut_stream(page, faulty):
    make_user("mia", roles.MEMBER)
    login(page, "mia")
    start_run(page, create_endpoint_model(faulty.base, "silent", path="/silent_start"))
    expect(page.locator(".wait-line")).to_have_text(re.compile(r"Waiting for the first token… \d+ s"))
    page.click("#stop")
    expect(page.locator("#error")).to_have_attribute("data-category", "stopped")
    expect(page.locator(".wait-line")).to_be_hidden()
    for _ in range(50):  # the next wait line fails to reach the page, which ends the run and frees the upstream
        if faulty.closed("silent_start"):
            break
        page.wait_for_timeout(100)
    assert faulty.closed("silent_start")
    page.wait_for_timeout(300)
    assert PlaygroundRun.objects.get().status == RunStatus.STOPPED
    start_run(page, create_endpoint_model(faulty.base, "cut", path="/cut_tgi"))
    expect(page.locator("#error")).to_contain_text("after 3 chunks of text without its final event")
    expect(page.locator("#output")).to_have_text("The sky is")
    expect(page.locator('#figures [data-figure="tokens"]')).to_have_text("not reported")


@pytest.mark.parametrize(
    "body,content_type,shown",
    [
        (HTML_500, "text/html", "500 Internal Server Error"),
        ('{"error": "Disk full"}', "application/json", "Disk full"),
        ("", "text/html", "HTTP 500"),
    ],
)
def test_a_console_failure_is_put_in_words(browser, live_server, hf, body, content_type, shown):
    make_user("mia", roles.MEMBER)
    model = create_endpoint_model(hf.base)
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))  # the 500 itself is logged by Chromium, and expected
    login(page, "mia")
    page.route("**/playground/run/", lambda route: route.fulfill(status=500, body=body, content_type=content_type))
    start_run(page, model)
    error = page.locator("#error")
    expect(error).to_contain_text("The console failed to run this")
    expect(error).to_contain_text(shown)
    assert "<" not in error.text_content()
    context.close()
    assert not errors
