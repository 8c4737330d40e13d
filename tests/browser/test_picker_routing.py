"""The model picker spells out the router's routing: `:fastest` (the default), `:cheapest` (only where a price tells
the providers apart) and `:preferred`, with the provider each takes now; the providers sort by price, speed or
context."""

import pytest
from playwright.sync_api import expect

from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BIG = "meta-llama/Llama-3.3-70B-Instruct"


@pytest.fixture
def two_providers(hf):
    hf.add_model(
        BIG, warm=False, providers={"together": "live", "groq": "live"}, tags=["transformers", "conversational"]
    )
    return hf


def pick(page, query):
    page.goto("/settings/providers/huggingface/models/new/")
    page.check("input[name=endpoint_type][value=inference_providers]")
    page.locator("#picker-q").type(query, delay=30)
    option = page.locator(f'#picker-results [data-repo="{BIG}"]')
    expect(option).to_be_visible()
    return option


def test_priced_providers_offer_every_policy_and_say_which_one_each_takes(
    page, two_providers, admin_user, provider_token
):
    two_providers.provider_details[BIG] = {
        "together": {"pricing": {"input": 0.88, "output": 0.88}, "throughput": 40.0, "context_length": 131072},
        "groq": {"pricing": {"input": 0.59, "output": 0.79}, "throughput": 300.0, "context_length": 16384},
    }
    login(page, admin_user.username)
    option = pick(page, "llama-3.3")
    providers = option.locator(".picker-providers li")
    expect(providers).to_have_count(2)
    expect(providers.first).to_have_attribute("data-provider", "groq")  # by name
    page.select_option("#picker-sort", "context")
    expect(option.locator(".picker-providers li").first).to_have_attribute("data-provider", "together")
    page.select_option("#picker-sort", "speed")
    expect(option.locator(".picker-providers li").first).to_have_attribute("data-provider", "groq")
    option.dispatch_event("mousedown")
    values = page.locator("#picker-policy option").evaluate_all("(os) => os.map((o) => o.value)")
    assert values[:4] == ["", "fastest", "cheapest", "preferred"]
    words = page.locator("#picker-policy-words")
    expect(words).to_contain_text("“:fastest”")
    expect(words).to_contain_text("Now that is groq.")
    page.select_option("#picker-policy", "preferred")
    expect(page.locator("#id_repo_id")).to_have_value(f"{BIG}:preferred")
    expect(words).to_contain_text("first live provider in the account’s order")
    page.select_option("#picker-policy", "together")
    expect(words).to_have_text("Calls always go to together; if it fails, they fail.")


def test_cheapest_is_not_offered_when_no_provider_has_a_price(page, two_providers, admin_user, provider_token):
    login(page, admin_user.username)
    pick(page, "llama-3.3").dispatch_event("mousedown")
    expect(page.locator("#picker-policy option[value=preferred]")).to_have_count(1)
    expect(page.locator("#picker-policy option[value=cheapest]")).to_have_count(0)
    expect(page.locator("#picker-policy-words")).to_contain_text("cannot tell which one")  # no speed reported
