"""The model picker's JSON: Hub search joined with the router catalog, gated access, paging, a failing Hub."""

import pytest
from django.urls import reverse

from tests.conftest import OTHER_TOKEN, TOKEN

pytestmark = pytest.mark.django_db


def search(client, q, task="chat", **extra):
    response = client.get(reverse("hub_model_search"), {"q": q, "task": task, **extra})
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def catalog(hf):
    hf.provider_details["meta-llama/Llama-3.1-8B-Instruct"] = {
        "together": {
            "context_length": 131072,
            "pricing": {"input": 0.18, "output": 0.18},
            "supports_tools": True,
            "first_token_latency_ms": 420,
            "throughput": 95.5,
        }
    }
    hf.add_model(
        "meta-llama/Llama-3.3-70B-Instruct",
        warm=False,
        providers={"together": "live", "groq": "live"},
        tags=["transformers", "conversational"],
    )
    hf.add_model("someone/llama-finetune", warm=False, tags=["transformers", "conversational"])
    return hf


def test_search_shows_who_serves_each_model_with_prices(catalog, admin_client, provider_token):
    answer = search(admin_client, "llama")
    assert answer["ok"] is True
    by_id = {r["id"]: r for r in answer["results"]}
    llama = by_id["meta-llama/Llama-3.1-8B-Instruct"]
    assert llama["served"] == "providers"
    assert llama["providers"] == [
        {
            "provider": "together",
            "context_length": 131072,
            "price_in": 0.18,
            "price_out": 0.18,
            "tools": True,
            "latency_ms": 420,
            "throughput": 95.5,
            "free": False,
        }
    ]  # fireworks-ai is only "staging": not offered
    assert llama["gated"] is True and llama["access"] is True  # alice was granted access
    assert llama["fill"] == {
        "endpoint_type": "inference_providers",
        "task": "chat",
        "repo_id": "meta-llama/Llama-3.1-8B-Instruct",
    }
    # no provider of the 70B lists a price: "cheapest" cannot be told, so it is not offered; :preferred is
    assert by_id["meta-llama/Llama-3.3-70B-Instruct"]["policies"] == ["fastest", "preferred"]
    unserved = by_id["someone/llama-finetune"]
    assert unserved["served"] == "none" and unserved["fill"]["endpoint_type"] == "inference_endpoint"


def test_the_browser_never_sees_the_token(catalog, admin_client, provider_token):
    response = admin_client.get(reverse("hub_model_search"), {"q": "llama", "task": "chat"})
    assert TOKEN not in response.content.decode()
    hub_calls = [r for r in catalog.requests if r["path"].startswith("/hub/api/models?")]
    assert hub_calls and hub_calls[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_gated_model_without_access_says_so(catalog, admin_client, db):
    from providers.models import ProviderSettings

    provider = ProviderSettings.load()
    provider.set_secret("api_token", OTHER_TOKEN)  # bob: not granted
    provider.save()
    llama = next(r for r in search(admin_client, "Llama-3.1")["results"])
    assert llama["gated"] is True and llama["access"] is False


def test_warm_hosted_model_fills_the_hosted_type_and_its_task(catalog, admin_client, provider_token):
    answer = search(admin_client, "flan", task="text2text-generation")
    assert [r["id"] for r in answer["results"]] == ["google/flan-t5-base"]
    flan = answer["results"][0]
    assert flan["warm"] is True and flan["served"] == "hosted"
    assert flan["fill"] == {"endpoint_type": "hosted_api", "task": "text2text-generation", "repo_id": flan["id"]}


def test_task_filters_the_search(catalog, admin_client, provider_token):
    assert [r["id"] for r in search(admin_client, "o", task="text-generation")["results"]] == []  # too short
    ids = [r["id"] for r in search(admin_client, "-t", task="text-generation")["results"]]
    assert "google/flan-t5-base" not in ids
    assert [r["id"] for r in search(admin_client, "-t", task="text2text-generation")["results"]] == [
        "google/flan-t5-base"
    ]


def test_link_header_paging(catalog, admin_client, provider_token):
    for n in range(25):
        catalog.add_model(f"acme/chat-{n:02d}", warm=False, tags=["conversational"], providers={"together": "live"})
    first = search(admin_client, "acme/chat")
    assert len(first["results"]) == 20 and first["next"]
    second = search(admin_client, "acme/chat", cursor=first["next"])
    assert len(second["results"]) == 5 and second["next"] == ""
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}


def test_answers_are_cached_briefly(catalog, admin_client, provider_token):
    search(admin_client, "llama")
    count = len(catalog.requests)
    search(admin_client, "LLAMA")
    assert len(catalog.requests) == count


def test_short_queries_do_not_reach_the_hub(catalog, admin_client, provider_token):
    assert search(admin_client, "l")["results"] == []
    assert not catalog.requests


def test_hub_down_gives_a_clear_message(catalog, admin_client, provider_token, settings):
    settings.HF_HUB_URL = "http://127.0.0.1:9"  # nothing listens there
    answer = search(admin_client, "llama")
    assert answer["ok"] is False and "type the repo id yourself" in answer["message"]


def test_slow_hub_is_bounded_in_time(catalog, admin_client, provider_token, settings):
    import time

    settings.HF_PICKER_TIMEOUT = 0.5
    catalog.fault(r"^/hub/api/models$", "slow", seconds=2)
    started = time.monotonic()
    answer = search(admin_client, "llama")
    assert answer["ok"] is False and answer["category"] == "timeout"
    assert time.monotonic() - started < 1.9


def test_router_catalog_down_still_lists_the_providers(catalog, admin_client, provider_token):
    catalog.fault(r"^/router/v1/models$", "status", status=500, body={"error": "boom"})
    llama = next(r for r in search(admin_client, "Llama-3.1")["results"])
    assert llama["served"] == "providers" and llama["providers"][0]["provider"] == "together"
    assert llama["providers"][0]["price_in"] is None


def test_member_cannot_search(catalog, member_client):
    assert member_client.get(reverse("hub_model_search"), {"q": "llama"}).status_code == 403


# --- legacy names -------------------------------------------------------------------------------------------


def test_legacy_name_is_stored_as_the_canonical_id_with_a_note(hf, admin_client, provider_token):
    from providers.models import HFModel
    from tests.conftest import model_form_data

    hf.renamed["gpt2"] = "openai-community/gpt2"
    data = model_form_data(display_name="gpt2", task="text-generation", repo_id="gpt2")
    response = admin_client.post(reverse("model_add"), data, follow=True)
    assert HFModel.objects.get(display_name="gpt2").repo_id == "openai-community/gpt2"
    page = response.content.decode()
    assert "is an old name" in page and "openai-community/gpt2" in page
    assert any(r["path"] == "/hub/api/models/gpt2?expand%5B%5D=pipeline_tag" for r in hf.requests)


def test_unknown_legacy_name_is_refused_as_before(hf, admin_client, provider_token):
    from tests.conftest import model_form_data

    response = admin_client.post(reverse("model_add"), model_form_data(repo_id="no-such-model"))
    assert response.status_code == 200 and "namespace/name" in response.content.decode()


def test_legacy_name_when_the_hub_is_down_asks_for_namespace_and_name(hf, admin_client, provider_token, settings):
    from tests.conftest import model_form_data

    settings.HF_HUB_URL = "http://127.0.0.1:9"
    response = admin_client.post(reverse("model_add"), model_form_data(repo_id="gpt2"))
    assert response.status_code == 200 and "namespace/name" in response.content.decode()


def test_a_refused_token_still_searches_anonymously(catalog, admin_client, db):
    from providers.models import ProviderSettings

    provider = ProviderSettings.load()
    provider.set_secret("api_token", "hf_notAKnownToken1234")
    provider.save()
    answer = search(admin_client, "Llama-3.1")
    assert answer["ok"] is True and answer["results"][0]["access"] is None


@pytest.mark.parametrize("method", ["get", "post"])
def test_picker_model_parameter_of_unicode_digits_is_not_a_500(hf, admin_client, provider_token, method):
    """picker_views._model() checks str.isdigit(), which is true for "²"; the query then raises ValueError."""
    url = "/settings/providers/huggingface/endpoints/" + ("state/" if method == "get" else "start/")
    admin_client.raise_request_exception = False
    response = getattr(admin_client, method)(url, {"namespace": "alice", "name": "tgi", "model": "\u00b2"})
    assert response.status_code < 500, response.content[:200]


def test_a_model_that_reads_images_is_marked(admin_client, provider_token, hf):
    hf.add_model(
        "Qwen/Qwen2.5-VL-7B-Instruct",
        warm=False,
        providers={"together": "live"},
        tags=["conversational"],
        modalities=["text", "image"],
    )
    found = {r["id"]: r for r in search(admin_client, "qwen")["results"] + search(admin_client, "llama")["results"]}
    assert found["Qwen/Qwen2.5-VL-7B-Instruct"]["vision"] is True
    assert found["meta-llama/Llama-3.1-8B-Instruct"]["vision"] is False


def test_cheapest_is_offered_where_a_price_tells_the_providers_apart_and_the_picks_are_said(
    catalog, admin_client, provider_token
):
    catalog.provider_details["meta-llama/Llama-3.3-70B-Instruct"] = {
        "together": {"pricing": {"input": 0.88, "output": 0.88}, "throughput": 40.0},
        "groq": {"pricing": {"input": 0.59, "output": 0.79}, "throughput": 300.0},
    }
    answer = search(admin_client, "llama-3.3")
    big = {r["id"]: r for r in answer["results"]}["meta-llama/Llama-3.3-70B-Instruct"]
    assert big["policies"] == ["fastest", "cheapest", "preferred"]
    assert big["picks"] == {"fastest": "groq", "cheapest": "groq", "preferred": ""}
