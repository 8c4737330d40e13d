"""The router catalog's facts travel with an Inference Providers model: providers with prices, context, speed and
tools on the model page (cheapest first, sortable), which provider the routing policy takes, the smallest context
a call may land on, the description; a compact cell in the model list; a line in the playground."""

import json
import re

import pytest
from django.urls import reverse

from tests.conftest import create_model

pytestmark = pytest.mark.django_db

REPO = "acme/Served-8B-Instruct"


@pytest.fixture
def served(hf, provider_token):
    hf.add_model(
        REPO,
        warm=False,
        providers={"together": "live", "groq": "live", "novita": "live", "featherless-ai": "error"},
        tags=["transformers", "conversational"],
        description="A small instruct model for tests.",
        modalities=["text", "image"],
    )
    hf.provider_details[REPO] = {
        "together": {"context_length": 131072, "pricing": {"input": 0.2, "output": 0.6}, "throughput": 90.0},
        "groq": {
            "context_length": 16384,
            "pricing": {"input": 0.05, "output": 0.08},
            "throughput": 400.5,
            "supports_tools": True,
        },
        "novita": {"context_length": 65536, "throughput": 30.0},
    }
    return hf


def _model(repo_id):
    return create_model(display_name="served", endpoint_type="inference_providers", task="chat", repo_id=repo_id)


def _rows(html):
    return re.findall(r'<tr data-provider="([^"]+)"', html)


def test_the_model_page_lists_live_providers_cheapest_first_and_says_who_fastest_picks(served, admin_client):
    model = _model(REPO)
    html = admin_client.get(reverse("model_detail", args=[model.pk])).content.decode()
    assert _rows(html) == ["groq", "together", "novita"]  # no price last; the provider in error not at all
    assert "Calls are routed “:fastest”" in html and "Now that is <strong>groq</strong>" in html
    assert "a context of 16384 tokens (the largest is 131072)" in html
    assert "A small instruct model for tests." in html
    assert ">tools<" in html and ">images<" in html and "data-sortable" in html


def test_cheapest_picks_by_price_and_a_forced_provider_is_always_that_one(served, admin_client):
    cheapest = _model(REPO + ":cheapest")
    html = admin_client.get(reverse("model_detail", args=[cheapest.pk])).content.decode()
    assert "Calls are routed “:cheapest”" in html and "Now that is <strong>groq</strong>" in html
    forced = create_model(
        display_name="forced", endpoint_type="inference_providers", task="chat", repo_id=REPO + ":novita"
    )
    html = admin_client.get(reverse("model_detail", args=[forced.pk])).content.decode()
    assert "Calls always go to <strong>novita</strong>" in html
    # the other routings the model could use, and the provider each takes now
    assert "“:fastest” would take <strong>groq</strong> now." in html
    assert "“:cheapest” would take <strong>groq</strong> now." in html
    assert "“:preferred” would take the first live provider in the account’s order" in html


def test_cheapest_without_any_price_says_it_cannot_tell(served, admin_client):
    for details in served.provider_details[REPO].values():
        details.pop("pricing", None)
    model = _model(REPO + ":cheapest")
    html = admin_client.get(reverse("model_detail", args=[model.pk])).content.decode()
    assert "No provider lists a price" in html and "Now that is" not in html
    assert "“:fastest” would take <strong>groq</strong> now." in html and "“:cheapest” would take" not in html


def test_the_list_and_the_playground_show_a_summary_once_the_catalog_was_read(served, admin_client):
    model = _model(REPO)
    listing = admin_client.get(reverse("huggingface")).content.decode()
    assert "served-summary" not in listing  # not read yet: the list does not wait for the router
    admin_client.get(reverse("model_detail", args=[model.pk]))  # reads it
    listing = admin_client.get(reverse("huggingface")).content.decode()
    summary = "$0.05–$0.2 in, $0.08–$0.6 out per million tokens · context 16,384–131,072 tokens · 3 live providers"
    assert summary in listing
    page = admin_client.get(reverse("playground")).content.decode()
    payload = json.loads(re.search(r'<script id="models-data" type="application/json">(.*?)</script>', page).group(1))
    assert payload[0]["served"] == summary
