"""Filters answer as one types (playground history, model list) and a new API key and a snippet copy with one
click."""

import re

import pytest
from playwright.sync_api import expect

from providers.models import PlaygroundRun
from tests.conftest import create_model, login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_history_filters_as_one_types(page):
    member = make_user("mia", "Member")
    model = create_model(display_name="flan")
    for prompt in ("Why is the sky blue", "Name three rivers", "Why is grass green"):
        PlaygroundRun.objects.create(user=member, model=model, model_name="flan", mode="completion", prompt=prompt)
    login(page, member.username)
    expect(page.locator("#history li.run")).to_have_count(3)
    page.locator(".history input[type=search]").press_sequentially("rivers", delay=30)  # no Enter
    expect(page.locator("#history li.run")).to_have_count(1)
    expect(page.locator("#history li.run")).to_contain_text("Name three rivers")
    expect(page).to_have_url(re.compile(r"q=rivers"))


def test_the_model_list_filters_as_one_types(page, admin_user):
    for name in ("alpha", "beta", "gamma"):
        create_model(display_name=name, repo_id=f"org/{name}")
    login(page, admin_user.username)
    page.goto("/settings/providers/huggingface/")
    expect(page.locator("#models tbody tr.model-row")).to_have_count(3)
    page.locator("#models-section input[type=search]").press_sequentially("gam", delay=30)
    expect(page.locator("#models tbody tr.model-row")).to_have_count(1)
    expect(page.locator("#models")).to_contain_text("gamma")


def test_a_new_key_is_copied_with_one_click(page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    member = make_user("mia", "Member")
    login(page, member.username)
    page.goto("/account/")
    page.fill("#id_name", "laptop")
    page.click("#new-key-form button[type=submit]")
    key = page.locator("#new-key-value").inner_text()
    page.click("#new-key-copy")
    expect(page.locator("#new-key-copy")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == key
