"""The API's screens in headless Chromium: a key shown once, code snippets that run as written.

The API's screens in headless Chromium: a key created and shown once, and the playground's code snippets
that follow the chosen model and parameters and run as written."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.snippets import new_key, run_snippet
from tests.conftest import create_endpoint_model, create_model, login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_creates_a_key_sees_it_once_and_revokes_it(page):
    make_user("mia", "Member")
    login(page, "mia")
    page.click("nav.mainnav >> text=API keys")
    expect(page.locator("h1")).to_have_text("Your API keys")
    page.fill("#id_name", "notebook")
    page.click("#new-key-form button[type=submit]")
    expect(page.locator("#new-key-value")).to_have_text(re.compile(r"^hfc_"))
    page.goto("/account/")
    expect(page.locator("#new-key")).to_have_count(0)
    expect(page.locator("#keys")).to_contain_text("notebook")
    page.click("#keys button:has-text('Revoke')")
    expect(page.locator("#keys")).to_contain_text("revoked")


def test_playground_snippets_follow_the_model_and_run(page, hf, provider_token, live_server):
    make_user("mia", "Member")
    create_model(
        display_name="llama chat",
        endpoint_type="inference_providers",
        task="chat",
        repo_id="meta-llama/Llama-3.1-8B-Instruct",
    )
    text = create_endpoint_model(hf.base, display_name="My TGI")
    login(page, "mia")
    page.goto("/playground/")
    page.click("#api-code summary")
    page.select_option("#id_model", str(text.pk))
    page.fill("#id_max_new_tokens", "7")
    page.fill("#id_prompt", "Once upon a time")
    snippet = page.locator("#api-code-snippet")
    expect(snippet).to_contain_text("/v1/completions")
    expect(snippet).to_contain_text('"max_tokens": 7')
    page.click("[data-snippet=openai]")
    expect(snippet).to_contain_text("client.completions.create(")
    expect(snippet).to_contain_text('model="my-tgi"')
    page.click("[data-snippet=hf]")
    expect(snippet).to_contain_text("/v1/models/my-tgi")

    # The openai snippet, as shown, runs against this console with a fresh key.
    key = new_key(page)
    page.goto("/playground/")
    page.select_option("#id_model", str(text.pk))
    page.fill("#id_max_new_tokens", "4")
    page.fill("#id_prompt", "Once upon a time")
    page.click("#api-code summary")
    page.click("[data-snippet=openai]")
    code = page.locator("#api-code-snippet").inner_text()
    assert live_server.url + "/v1" in code
    printed = run_snippet(code, key)
    assert len(printed.split()) == 4, printed
    assert json.dumps(key) not in page.content()


def test_admin_reaches_every_key_from_the_key_page(page):
    make_user("mia", "Member")
    make_user("ada", "Admin")
    login(page, "mia")
    page.click("nav.mainnav >> text=API keys")
    expect(page.locator("#to-all-keys")).to_have_count(0)
    page.click("header form button:has-text('Log out')")
    login(page, "ada")
    page.click("nav.mainnav >> text=API keys")
    page.click("#to-all-keys")
    expect(page.locator("h1")).to_have_text("API keys")
    expect(page.locator("nav.mainnav a.active")).to_have_text("API keys")
