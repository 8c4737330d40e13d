"""A test run from the model page shows up at once in that page's list of tests, without a reload."""

import pytest
from playwright.sync_api import expect

from tests.conftest import create_model, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_model_pages_test_history_takes_the_new_test_in(page, hf, admin_user, provider_token):
    flan = create_model(display_name="flan", repo_id="google/flan-t5-base", task="text2text-generation")
    login(page, admin_user.username)
    page.goto(f"/settings/providers/huggingface/models/{flan.pk}/")
    expect(page.locator("#test-history")).to_contain_text("Not tested yet.")
    page.click("button[data-test-url]")
    expect(page.locator("#test-result .badge")).to_be_visible()
    expect(page.locator("#test-history #tests tbody tr")).to_have_count(1)
    expect(page.locator("#test-history")).not_to_contain_text("Not tested yet.")
