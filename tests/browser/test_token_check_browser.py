"""Saving the provider token in the browser: a good token shows whose it is and what it may do, a bad one is
refused and the old one kept, an under-privileged one is saved with what it may not do said at once and on the card
(the emulator's whoami-v2 answers for each)."""

import pytest
from playwright.sync_api import expect

from providers.models import ProviderSettings
from tests.conftest import TOKEN, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FINE = "hf_emuFINEgrained00000abcd"


def save_token(page, token):
    page.goto("/settings/providers/huggingface/")
    page.fill("#provider-token input[name=api_token]", token)
    page.click("#provider-token button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_a_good_token_shows_its_account_and_every_ability(page, hf, admin_user):
    hf.tokens[TOKEN]["orgs"] = [{"type": "org", "name": "acme"}]
    login(page, admin_user.username)
    save_token(page, TOKEN)
    expect(page.locator(".message.success")).to_contain_text("it belongs to alice")
    card = page.locator("#token-check")
    expect(card).to_contain_text("Belongs to alice (read token).")
    expect(card).to_contain_text("acme")
    expect(card.locator('[data-ability="providers"]')).to_have_class("ok")
    expect(card.locator('[data-ability="providers"]')).to_contain_text("✓")
    expect(card.locator('[data-ability="manage_endpoints"]')).to_have_class("missing")  # a read token
    assert TOKEN not in page.content()


def test_a_bad_token_is_refused_and_the_old_one_kept(page, hf, admin_user, provider_token):
    login(page, admin_user.username)
    save_token(page, "hf_bad12345")
    expect(page.locator(".message.error")).to_contain_text("does not accept this token")
    expect(page.locator(".message.error")).to_contain_text("Not saved")
    expect(page.locator(".message.success")).to_have_count(0)
    assert ProviderSettings.load().get_secret("api_token") == TOKEN


def test_an_under_privileged_token_is_saved_with_what_it_may_not_do(page, hf, admin_user):
    hf.add_token(FINE, name="carol", role="fineGrained", global_perms=["discussion.write"])
    login(page, admin_user.username)
    save_token(page, FINE)
    expect(page.locator(".message.success")).to_contain_text("it belongs to carol")
    expect(page.locator(".message.warning").first).to_contain_text(
        "This token may not call Inference Providers and the Hosted Inference API"
    )
    card = page.locator("#token-check")
    expect(card.locator('[data-ability="providers"]')).to_have_class("missing")
    expect(card.locator('[data-ability="providers"]')).to_contain_text("✗")
    expect(card.locator('[data-ability="providers"]')).to_contain_text("Hosted and provider models fail.")
    assert ProviderSettings.load().get_secret("api_token") == FINE
