"""Test connection: the diagnosis through the real view and the real client, history, the command."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from providers.models import AuditEntry, ConnectionTest
from tests.conftest import OTHER_TOKEN, TOKEN, create_endpoint_model, create_model, model_form_data
from tests.hf_emulator import Emulator


def run_saved(admin_client, model):
    response = admin_client.post(reverse("model_test", args=[model.pk]))
    assert response.status_code == 200
    return response.json()


def form_data(**overrides):
    return model_form_data(**{"display_name": "form model", **overrides})


def test_hosted_success_is_stored_and_shown(hf, admin_client, hosted_model):
    result = run_saved(admin_client, hosted_model)
    assert result["ok"] is True
    assert result["sample_output"] == "The sky is blue because"
    assert [s["name"] for s in result["steps"]] == ["Token", "Model on the Hub", "Tiny generation"]
    entry = ConnectionTest.objects.get(model=hosted_model)
    assert entry.ok and entry.http_status == 200 and entry.latency_ms >= 0
    hosted_model.refresh_from_db()
    assert hosted_model.last_test_id == entry.pk
    page = admin_client.get(reverse("huggingface")).content.decode()
    assert 'class="badge ok"' in page
    detail = admin_client.get(reverse("model_detail", args=[hosted_model.pk])).content.decode()
    assert "The sky is blue because" in detail
    assert AuditEntry.objects.filter(action="model.test", target_id=str(hosted_model.pk)).exists()
    hub_calls = [r["path"] for r in hf.requests if r["path"].startswith("/hub/")]
    assert hub_calls[0] == "/hub/api/whoami-v2"
    assert hub_calls[1].startswith("/hub/api/models/google/flan-t5-base?")


@pytest.mark.parametrize(
    "setup, category",
    [
        (lambda hf, m: setattr(m, "_token", "hf_invalidinvalid"), "invalid_token"),
        (
            lambda hf, m: hf.add_token("hf_finegrainednoinf", role="fineGrained", global_perms=["repo.content.read"])
            or setattr(m, "_token", "hf_finegrainednoinf"),
            "token_lacks_permission",
        ),
        (lambda hf, m: setattr(m, "repo_id", "nobody/missing"), "model_not_found"),
        (lambda hf, m: setattr(m, "task", "text-generation"), "wrong_task"),
        (lambda hf, m: hf.models["google/flan-t5-base"].pop("inference"), "model_not_served"),
        (lambda hf, m: hf.models["google/flan-t5-base"].update(_loading=600.0), "model_loading"),
        (lambda hf, m: hf.fault("hf-inference", "rate_limit", times=9, retry_after=60), "rate_limited"),
        (lambda hf, m: hf.fault("hf-inference", "non_json"), "bad_response"),
        (
            lambda hf, m: hf.fault("hf-inference", "status", status=502, body="Bad Gateway", content_type="text/plain"),
            "upstream_error",
        ),
        (lambda hf, m: hf.fault("whoami", "drop"), "connection_lost"),
        (
            lambda hf, m: hf.fault(
                "hf-inference",
                "status",
                status=402,
                body={"error": "You have exceeded your monthly included credits for Inference Providers."},
            ),
            "payment_required",
        ),
    ],
    ids=[
        "invalid_token",
        "token_lacks_permission",
        "model_not_found",
        "wrong_task",
        "model_not_served",
        "model_loading",
        "rate_limited",
        "bad_response",
        "upstream_error",
        "connection_lost",
        "payment_required",
    ],
)
def test_hosted_failures_are_named(hf, admin_client, provider_token, setup, category):
    model = create_model()
    setup(hf, model)
    if getattr(model, "_token", None):
        model.set_secret("api_token", model._token)
    model.save()
    result = run_saved(admin_client, model)
    assert result["ok"] is False
    assert result["category"] == category, result
    assert result["title"] and result["advice"]
    assert ConnectionTest.objects.get(model=model).category == category


def test_gated_model_not_accepted(hf, admin_client, provider_token):
    hf.models["meta-llama/Llama-3.1-8B-Instruct"]["inference"] = "warm"
    model = create_model(
        display_name="llama", task="text-generation", repo_id="meta-llama/Llama-3.1-8B-Instruct", token=OTHER_TOKEN
    )
    result = run_saved(admin_client, model)
    assert result["category"] == "model_gated"
    assert "gated" in result["steps"][1]["detail"]


def test_llm_on_hosted_api_is_guided_to_inference_providers(hf, admin_client, provider_token):
    model = create_model(display_name="llama", task="text-generation", repo_id="meta-llama/Llama-3.1-8B-Instruct")
    result = run_saved(admin_client, model)
    assert result["category"] == "model_not_served"
    assert "Inference Providers do" in result["message"]
    assert result["title"] == "Not served here"
    assert result["advice"] == "Change the endpoint type to Inference Providers: together serve this model live."


def test_inference_providers_success_and_mapping(hf, admin_client, chat_model):
    result = run_saved(admin_client, chat_model)
    assert result["ok"] is True, result
    assert result["steps"][2]["name"] == "Providers"
    assert result["steps"][2]["detail"] == "live: together"
    assert result["sample_output"] == "The sky is blue because"


def test_inference_providers_provider_not_live(hf, admin_client, chat_model):
    chat_model.repo_id = "meta-llama/Llama-3.1-8B-Instruct:fireworks-ai"
    chat_model.save()
    result = run_saved(admin_client, chat_model)
    assert result["category"] == "model_not_served" and "fireworks-ai" in result["message"]
    assert result["advice"].startswith("Use “:together”, or drop the suffix to let the router choose.")
    assert "endpoint type" not in result["advice"]  # it already is Inference Providers
    page = admin_client.get(reverse("model_detail", args=[chat_model.pk])).content.decode()
    assert "Use “:together”, or drop the suffix" in page  # the stored result keeps its precise advice


def test_small_model_on_inference_providers_is_pointed_to_the_hosted_api(hf, admin_client, chat_model):
    chat_model.repo_id = "openai-community/gpt2"
    chat_model.save()
    result = run_saved(admin_client, chat_model)
    assert result["category"] == "model_not_served"
    assert result["advice"] == (
        "Change the endpoint type to Hosted Inference API and the task to text-generation: "
        "it serves openai-community/gpt2."
    )


def test_endpoint_success_reads_info(hf, admin_client, endpoint_model):
    result = run_saved(admin_client, endpoint_model)
    assert result["ok"] is True, result
    assert result["server_info"]["served_model"] == "bigscience/bloom-560m"
    assert result["server_info"]["context_length"] == 2048
    assert result["server_info"]["engine"] == "tgi" and result["server_info"]["version"] == "3.3.6-dev0"


@pytest.mark.parametrize(
    "state, category, status",
    [
        ("paused", "endpoint_paused", 400),  # never woken: someone must resume it
        ("initializing", "endpoint_waking", 503),  # one that never becomes ready, within HF_SCALE_UP_TIMEOUT
    ],
)
def test_endpoint_states(hf, admin_client, endpoint_model, state, category, status, settings):
    settings.HF_SCALE_UP_TIMEOUT = 1
    hf.add_endpoint("tgi", state=state)
    result = run_saved(admin_client, endpoint_model)
    assert (result["category"], result["http_status"]) == (category, status)


def test_a_failed_endpoint_is_diagnosed_as_failed_from_the_control_plane(hf, admin_client, endpoint_model):
    hf.add_control_endpoint("alice", "tgi", state="failed", url_when_failed=True)
    result = run_saved(admin_client, endpoint_model)
    assert (result["category"], result["http_status"]) == ("endpoint_failed", 503)
    assert result["title"] == "Endpoint failed" and "Endpoint failed to deploy" in json.dumps(result)


def test_test_connection_wakes_a_scaled_to_zero_endpoint(hf, admin_client, endpoint_model):
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=1)
    result = run_saved(admin_client, endpoint_model)
    assert result["ok"] is True
    sent = [r["headers"].get("X-Scale-Up-Timeout") for r in hf.requests if r["path"].startswith("/ep/tgi")]
    assert sent[0] is None and 1 <= int(sent[1]) <= 8  # held within the limit (8 s in tests)


def test_a_server_elsewhere_that_is_not_ready_is_not_woken(hf, admin_client, settings):
    """X-Scale-Up-Timeout means something to Hugging Face's endpoint proxy only: another server's 503 is its answer."""
    settings.PROVIDER_TOKEN_HOSTS = []
    elsewhere = Emulator().start()
    try:
        elsewhere.add_endpoint("tgi", state="scaled_to_zero")
        model = create_endpoint_model(elsewhere.base, "elsewhere")
        result = run_saved(admin_client, model)
        assert (result["category"], result["http_status"]) == ("endpoint_paused_or_starting", 503)
        assert result["title"] == "Endpoint not ready" and "server" in result["advice"]
        assert not [r for r in elsewhere.requests if "X-Scale-Up-Timeout" in r["headers"]]
    finally:
        elsewhere.stop()


def test_a_streamed_test_says_it_wakes_the_endpoint(hf, admin_client, endpoint_model):
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=1)
    events = stream_events(admin_client, reverse("model_test", args=[endpoint_model.pk]))
    waking = [e for e in events if e["type"] == "loading" and e["category"] == "endpoint_waking"]
    assert len(waking) == 1 and waking[0]["seconds"] == 8
    assert events[-1]["result"]["ok"] is True


def test_endpoint_wrong_url_and_not_tgi(hf, admin_client, provider_token):
    wrong = create_endpoint_model(hf.base, "wrong", path="/nothing")
    assert run_saved(admin_client, wrong)["category"] == "endpoint_not_found"
    hf.add_endpoint("web", tgi=False)
    web = create_endpoint_model(hf.base, "web", path="/ep/web")
    assert run_saved(admin_client, web)["category"] == "not_text_generation_server"


def test_endpoint_wrong_token(hf, admin_client, endpoint_model):
    hf.add_endpoint("tgi", token="hf_theRightOne1234")
    assert run_saved(admin_client, endpoint_model)["category"] == "invalid_token"


def test_endpoint_timeout_is_bounded(hf, admin_client, endpoint_model, settings):
    settings.HF_TEST_TIMEOUT = 0.5
    hf.fault("/ep/tgi", "slow", seconds=2, times=3)
    result = run_saved(admin_client, endpoint_model)
    assert result["category"] == "timeout"
    assert result["latency_ms"] < 1500


def test_endpoint_blocked_by_url_policy(hf, admin_client, endpoint_model, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    assert run_saved(admin_client, endpoint_model)["category"] == "blocked_by_url_policy"


def test_endpoint_connection_refused_and_dns(hf, admin_client, provider_token, settings):
    refused = create_endpoint_model("http://127.0.0.1:9/", "refused", path="")
    assert run_saved(admin_client, refused)["category"] == "connection_refused"
    settings.OUTBOUND_ALLOWED_HOSTS = ["nowhere.invalid"]
    dns = create_endpoint_model("http://nowhere.invalid/", "dns", path="")
    assert run_saved(admin_client, dns)["category"] == "dns_failure"


def test_input_rejected_and_tls(hf, admin_client, endpoint_model):
    hf.fault(
        "/ep/tgi$",
        "status",
        status=422,
        body={"error": "Input validation error: `inputs` cannot be empty", "error_type": "validation"},
    )
    result = run_saved(admin_client, endpoint_model)
    assert result["category"] == "input_rejected" and "`inputs` cannot be empty" in result["upstream"]
    endpoint_model.endpoint_url = f"https://127.0.0.1:{hf.port}/ep/tgi"
    endpoint_model.save()
    assert run_saved(admin_client, endpoint_model)["category"] == "tls_error"


def test_no_token_and_unreadable_token(hf, admin_client, db):
    model = create_model()
    assert run_saved(admin_client, model)["category"] == "no_token"


def test_form_values_are_tested_before_saving(hf, admin_client, provider_token):
    response = admin_client.post(reverse("model_test_form"), form_data(api_token=OTHER_TOKEN))
    result = response.json()
    assert result["ok"] is True
    assert hf.requests[0]["headers"]["Authorization"] == f"Bearer {OTHER_TOKEN}"
    assert not ConnectionTest.objects.filter(model__isnull=False).exists()  # nothing saved yet, so no history
    assert AuditEntry.objects.filter(action="model.test").exists()
    bad = admin_client.post(reverse("model_test_form"), form_data(repo_id="not a repo")).json()
    assert "repo_id" in bad["form_errors"]


def test_form_test_of_an_existing_model_uses_its_stored_token(hf, admin_client, provider_token):
    model = create_model(token=OTHER_TOKEN)
    result = admin_client.post(reverse("model_test_form"), form_data(model_id=model.pk, display_name="flan")).json()
    assert result["ok"] is True
    assert hf.requests[0]["headers"]["Authorization"] == f"Bearer {OTHER_TOKEN}"
    assert ConnectionTest.objects.filter(model=model).count() == 1


@pytest.mark.django_db(transaction=True)
def test_check_connections_command(hf, provider_token, endpoint_model):
    create_model(display_name="flan")
    out = io.StringIO()
    call_command("check_connections", stdout=out)
    text = out.getvalue()
    assert "flan" in text and "my tgi" in text and "All 2 model(s) answered." in text
    hf.add_endpoint("tgi", state="paused")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 model"):
        call_command("check_connections", stdout=out)
    assert "endpoint_paused" in out.getvalue()
    out = io.StringIO()
    call_command("check_connections", "--model", "flan", stdout=out)
    assert "my tgi" not in out.getvalue()
    with pytest.raises(CommandError, match="no model named: ghost"):
        call_command("check_connections", "--model", "ghost")
    assert TOKEN not in out.getvalue()


def test_every_category_is_diagnosed_by_a_view_test_here():
    """A new failure category must come with a test through the real view (this file, or the crypto tests)."""
    from pathlib import Path

    from providers.huggingface.errors import CATEGORIES

    here = "".join(
        (Path(__file__).parent.parent / name).read_text()
        for name in ("core/test_crypto.py", "playground/test_run_truth.py")
    )
    here += Path(__file__).read_text()
    missing = [c for c in CATEGORIES if f'"{c}"' not in here]
    assert not missing, f"no view test names these categories: {missing}"


def stream_events(admin_client, url, data=None):
    import json

    response = admin_client.post(url, data or {}, HTTP_ACCEPT="application/x-ndjson")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines() if line.strip()]


def test_streamed_test_tells_each_step_as_it_starts_and_completes(hf, admin_client, hosted_model):
    events = stream_events(admin_client, reverse("model_test", args=[hosted_model.pk]))
    kinds = [(e["type"], e.get("name")) for e in events]
    assert kinds[:4] == [
        ("running", "Token"),
        ("step", "Token"),
        ("running", "Model on the Hub"),
        ("step", "Model on the Hub"),
    ]
    assert events[-1]["type"] == "result" and events[-1]["result"]["ok"] is True
    assert events[-1]["result"]["tested_at_display"]
    assert ConnectionTest.objects.get(model=hosted_model).ok  # recorded like the plain answer


def test_streamed_test_reports_the_estimated_load_time_and_heartbeats(hf, admin_client, hosted_model, monkeypatch):
    from providers.settings_screen import connection_test

    monkeypatch.setattr(connection_test, "HEARTBEAT_SECONDS", 0.1)
    hf.models["google/flan-t5-base"]["_loading"] = 0.4
    events = stream_events(admin_client, reverse("model_test", args=[hosted_model.pk]))
    loading = [e for e in events if e["type"] == "loading"]
    assert loading == [{"type": "loading", "category": "model_loading", "seconds": 0.4}]
    assert any(e["type"] == "wait" and e["waited_ms"] > 0 for e in events)
    assert events[-1]["result"]["ok"] is True


def test_streamed_test_failure_before_any_call_is_one_result(hf, admin_client, db):
    model = create_model()  # no provider token, no model token
    events = stream_events(admin_client, reverse("model_test", args=[model.pk]))
    assert [e["type"] for e in events] == ["result"]
    assert events[0]["result"]["category"] == "no_token" and events[0]["result"]["title"] == "No API token"


def test_a_test_run_before_saving_is_recorded_once_saved(hf, admin_client, provider_token):
    from providers.models import HFModel

    result = admin_client.post(reverse("model_test_form"), form_data()).json()
    assert result["ok"] is True and result["test_id"]
    admin_client.post(reverse("model_add"), form_data(pending_test=result["test_id"]))
    model = HFModel.objects.get(display_name="form model")
    assert model.last_test_id == result["test_id"]
    assert list(model.tests.values_list("pk", flat=True)) == [result["test_id"]]


def test_a_test_of_other_values_is_not_recorded_for_the_saved_model(hf, admin_client, provider_token):
    from providers.models import HFModel

    result = admin_client.post(reverse("model_test_form"), form_data(repo_id="openai-community/gpt2")).json()
    admin_client.post(reverse("model_add"), form_data(pending_test=result["test_id"]))
    model = HFModel.objects.get(display_name="form model")
    assert model.last_test_id is None and not model.tests.exists()


def test_form_tests_never_saved_are_dropped_after_an_hour(hf, admin_client, provider_token):
    from datetime import timedelta

    from django.utils import timezone

    old = admin_client.post(reverse("model_test_form"), form_data()).json()["test_id"]
    ConnectionTest.objects.filter(pk=old).update(created_at=timezone.now() - timedelta(hours=2))
    new = admin_client.post(reverse("model_test_form"), form_data()).json()["test_id"]
    assert list(ConnectionTest.objects.values_list("pk", flat=True)) == [new]


@pytest.mark.parametrize("estimated_time", [-5, "soon"])
def test_test_connection_with_an_odd_estimated_time_is_not_a_500(hf, admin_client, chat_model, estimated_time):
    """The same client._call defect reached from Test connection: the diagnosis page gets a 500."""
    hf.fault(r"chat/completions", "loading", times=5, estimated_time=estimated_time)
    admin_client.raise_request_exception = False
    url = f"/settings/providers/huggingface/models/{chat_model.pk}/test/"
    response = admin_client.post(url, HTTP_ACCEPT="application/json")
    assert response.status_code < 500, response.content[:200]


def test_test_connection_of_an_endpoint_whose_info_says_infinity(hf, admin_client, provider_token):
    model = create_endpoint_model(hf.base, display_name="paced")
    info = '{"model_id": "x", "router": "text-generation-router", "max_total_tokens": Infinity}'
    hf.fault(r"/ep/tgi/info", "status", times=1, status=200, body=info)
    admin_client.raise_request_exception = False
    url = f"/settings/providers/huggingface/models/{model.pk}/test/"
    response = admin_client.post(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content[:300]
