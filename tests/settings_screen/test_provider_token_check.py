"""Saving the provider token asks Hugging Face whose it is and what it may do: an invalid token is refused, a
missing permission is warned about, a token that could not be checked is saved and says so; the card shows it."""

import pytest
from django.urls import reverse

from providers.models import ProviderSettings
from tests.conftest import OTHER_TOKEN, TOKEN

pytestmark = pytest.mark.django_db

FINE = "hf_emuFINEgrained00000abcd"


def _save(admin_client, token):
    return admin_client.post(reverse("provider_token"), {"api_token": token}, follow=True).content.decode()


def test_a_good_token_is_saved_with_its_account_and_what_it_may_do(hf, admin_client):
    html = _save(admin_client, TOKEN)
    assert "it belongs to alice" in html and TOKEN not in html
    provider = ProviderSettings.load()
    assert provider.get_secret("api_token") == TOKEN
    assert provider.token_check["account"] == "alice" and provider.token_check["providers"] is True
    # a read token cannot resume or wake endpoints: said at once, and on the card
    assert "may not list, resume and wake Inference Endpoints" in html
    card = admin_client.get(reverse("huggingface")).content.decode()
    assert "Belongs to <strong>alice</strong> (read token)" in card
    assert 'data-ability="manage_endpoints"' in card and 'class="missing" data-ability="manage_endpoints"' in card


def test_a_write_token_in_an_organisation_may_do_everything(hf, admin_client):
    hf.tokens[OTHER_TOKEN]["orgs"] = [{"type": "org", "name": "acme"}]
    html = _save(admin_client, OTHER_TOKEN)
    assert "it belongs to bob" in html and "may not" not in html
    card = admin_client.get(reverse("huggingface")).content.decode()
    assert "acme" in card and 'class="missing"' not in card


def test_an_invalid_token_is_refused_and_the_old_one_kept(hf, admin_client, provider_token):
    html = _save(admin_client, "hf_bad12345")
    assert "does not accept this token" in html and "Not saved" in html
    assert ProviderSettings.load().get_secret("api_token") == TOKEN


def test_a_fine_grained_token_without_inference_is_warned_about(hf, admin_client):
    hf.add_token(FINE, name="carol", role="fineGrained", global_perms=["discussion.write"])
    html = _save(admin_client, FINE)
    assert "it belongs to carol" in html
    assert "This token may not call Inference Providers and the Hosted Inference API" in html
    assert ProviderSettings.load().get_secret("api_token") == FINE


def test_a_token_that_could_not_be_checked_is_saved_and_says_so(hf, admin_client, settings):
    settings.HF_HUB_URL = "http://127.0.0.1:9"  # nothing listens: could not ask, which is not "no"
    html = _save(admin_client, TOKEN)
    assert "could not be checked" in html
    assert ProviderSettings.load().get_secret("api_token") == TOKEN
    card = admin_client.get(reverse("huggingface")).content.decode()
    assert "Not checked when it was saved" in card
