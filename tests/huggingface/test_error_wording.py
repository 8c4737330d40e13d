"""Every failure category has a title and advice for every endpoint type, in both languages.

The category → title and advice table: every category worded for every endpoint type, in both languages,
and advice that never contradicts the endpoint type in use."""

import pytest
from django.utils import translation

from providers.huggingface.errors import CATEGORIES, WORDING, HFError, wording
from providers.models import EndpointType

TYPES = [t.value for t in EndpointType]
CASES = [(category, kind) for category in WORDING for kind in TYPES]


@pytest.mark.parametrize("category, kind", CASES)
def test_each_category_has_a_short_title_and_advice_for_each_endpoint_type(category, kind):
    title, advice = wording(category, kind, live="together", first="together", repo="org/model")
    assert title and len(title) <= 32, title  # fits a badge
    assert advice and "%(" not in advice
    assert category not in title and category not in advice  # no raw code in the words
    assert HFError(category).as_dict(kind)["title"] == title


@pytest.mark.parametrize("category, kind", CASES)
def test_each_category_is_translated_for_each_endpoint_type(category, kind):
    english = wording(category, kind)
    with translation.override("zh-hans"):
        chinese = wording(category, kind)
    assert chinese[0] != english[0] and chinese[1] != english[1]


@pytest.mark.parametrize("category", list(WORDING))
def test_advice_never_sends_a_model_to_the_endpoint_type_it_already_uses(category):
    for variant in ("", "live", "suffix", "hosted"):
        _, on_providers = wording(category, EndpointType.INFERENCE_PROVIDERS, variant, live="a", first="a", repo="x")
        _, on_hosted = wording(category, EndpointType.HOSTED_API, variant, live="a", first="a", repo="x")
        _, on_endpoint = wording(category, EndpointType.INFERENCE_ENDPOINT, variant, live="a", first="a", repo="x")
        assert "endpoint type to Inference Providers" not in on_providers
        assert "choose Inference Providers" not in on_providers
        assert "endpoint type to Hosted Inference API" not in on_hosted
        assert "deploy an Inference Endpoint" not in on_endpoint.lower()


def test_provider_suffix_not_live_names_the_live_provider():
    _, advice = wording(
        "model_not_served", EndpointType.INFERENCE_PROVIDERS, "suffix", first="together", live="together"
    )
    assert advice.startswith("Use “:together”, or drop the suffix to let the router choose.")


def test_every_old_style_category_has_words():
    assert set(CATEGORIES) == set(WORDING)
    for message, advice in CATEGORIES.values():
        assert str(message) and str(advice)
