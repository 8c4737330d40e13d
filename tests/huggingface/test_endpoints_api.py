"""The account's Inference Endpoints: list across namespaces, resume and wake with audit, permission refusals."""

import time

import pytest
from django.urls import reverse

from providers.models import AuditEntry
from tests.conftest import TOKEN, create_endpoint_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(hf):
    hf.add_org(TOKEN, "acme")
    hf.add_control_endpoint("alice", "chat-llama", state="running", repository="meta-llama/Llama-3.1-8B-Instruct")
    hf.add_control_endpoint("alice", "sleepy", state="paused", image="vLLM", repository="Qwen/Qwen2.5-7B-Instruct")
    hf.add_control_endpoint("acme", "cold", state="scaled_to_zero")
    hf.add_control_endpoint(
        "acme", "embedder", repository="BAAI/bge-base-en-v1.5", task="feature-extraction", image="tei"
    )
    return hf


def listing(client):
    response = client.get(reverse("endpoint_list"))
    assert response.status_code == 200
    return response.json()


def test_lists_user_and_org_endpoints_with_state_model_engine_instance_url(account, admin_client, provider_token):
    answer = listing(admin_client)
    assert answer["ok"] is True and answer["problems"] == []
    rows = {(e["namespace"], e["name"]): e for e in answer["endpoints"]}
    assert set(rows) == {("alice", "chat-llama"), ("alice", "sleepy"), ("acme", "cold"), ("acme", "embedder")}
    running = rows[("alice", "chat-llama")]
    assert running["state"] == "running" and running["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert running["engine"] == "tgi" and running["instance"] == "gpu nvidia-a10g x1"
    assert running["url"] == f"{account.base}/ep/chat-llama"
    assert running["fill"] == {
        "endpoint_url": running["url"],
        "display_name": "chat-llama",
        "task": "text-generation",
        "repo_id": "meta-llama/Llama-3.1-8B-Instruct",  # "Use this endpoint" fills the repo id too
    }
    assert rows[("alice", "sleepy")]["state"] == "paused" and rows[("alice", "sleepy")]["engine"] == "vllm"
    assert rows[("alice", "sleepy")]["fill"]["task"] == "chat"
    assert rows[("acme", "cold")]["state"] == "scaledToZero"
    assert rows[("acme", "embedder")]["usable"] is False  # TEI: not a text-generation server
    assert TOKEN not in str(answer)


def test_an_org_without_access_is_reported_not_fatal(account, admin_client, provider_token):
    account.add_org(TOKEN, "nobill", no_billing=True)
    answer = listing(admin_client)
    assert answer["ok"] is True and len(answer["endpoints"]) == 4
    assert [p["namespace"] for p in answer["problems"]] == ["nobill"]
    assert "billing" in answer["problems"][0]["message"]


def test_a_token_without_the_endpoints_permission_gets_the_precise_reason(account, admin_client, provider_token):
    account.add_token(TOKEN, name="alice", role="fineGrained", global_perms=["inference.serverless.write"])
    answer = listing(admin_client)
    assert answer["endpoints"] == []
    problem = answer["problems"][0]
    assert problem["category"] == "token_lacks_permission"
    assert "inference.endpoints.read permission on alice" in problem["message"]


def test_an_invalid_token_says_so(account, admin_client, db):
    from providers.models import ProviderSettings

    provider = ProviderSettings.load()
    provider.set_secret("api_token", "hf_notAKnownToken1234")
    provider.save()
    answer = listing(admin_client)
    assert answer["ok"] is False and answer["category"] == "invalid_token"


def watch(client, namespace, name, limit=5.0):
    """Poll the state as the browser does, until running or failed."""
    deadline = time.monotonic() + limit
    states = []
    while time.monotonic() < deadline:
        answer = client.get(reverse("endpoint_state"), {"namespace": namespace, "name": name}).json()
        states.append(answer["endpoint"]["state"])
        if states[-1] in ("running", "failed"):
            return states
        time.sleep(0.1)
    return states


def test_resume_a_paused_endpoint_and_watch_it_come_up(account, admin_client, provider_token):
    response = admin_client.post(reverse("endpoint_start"), {"namespace": "alice", "name": "sleepy"})
    answer = response.json()
    assert answer["ok"] is True and answer["action"] == "resume"
    assert answer["endpoint"]["state"] == "initializing"
    assert any(r["path"] == "/endpoints-api/endpoint/alice/sleepy/resume" for r in account.requests)
    states = watch(admin_client, "alice", "sleepy")
    assert states[0] == "initializing" and states[-1] == "running"
    entry = AuditEntry.objects.get(action="endpoint.resume")
    assert entry.changes == {"endpoint": "alice/sleepy", "state": "initializing"}


def test_wake_a_scaled_to_zero_endpoint_with_a_request_to_it(account, admin_client, provider_token):
    answer = admin_client.post(reverse("endpoint_start"), {"namespace": "acme", "name": "cold"}).json()
    assert answer["ok"] is True and answer["action"] == "wake"
    assert any(r["path"] == "/ep/cold/health" for r in account.requests)
    assert not any(r["path"].endswith("/resume") for r in account.requests)
    assert watch(admin_client, "acme", "cold")[-1] == "running"
    assert AuditEntry.objects.filter(action="endpoint.wake").exists()


def test_resume_refused_without_permission_is_audited_with_reason(account, admin_client, provider_token):
    account.add_token(
        TOKEN, name="alice", role="fineGrained", global_perms=["inference.serverless.write", "inference.endpoints.read"]
    )
    answer = admin_client.post(reverse("endpoint_start"), {"namespace": "alice", "name": "sleepy"}).json()
    assert answer["ok"] is False and answer["category"] == "token_lacks_permission"
    assert "inference.endpoints.write" in answer["message"]
    assert AuditEntry.objects.filter(action="endpoint.start_failed").exists()


def test_bad_names_are_refused_without_a_request(account, admin_client, provider_token):
    response = admin_client.post(reverse("endpoint_start"), {"namespace": "../x", "name": "sleepy"})
    assert response.status_code == 400
    assert not any(r["path"].startswith("/endpoints-api") for r in account.requests)


def test_model_page_finds_its_endpoint_by_url(account, admin_client, provider_token):
    model = create_endpoint_model(account.base, "sleepy", path="/ep/sleepy/")
    answer = admin_client.get(reverse("model_endpoint", args=[model.pk])).json()
    assert answer["ok"] is True and answer["endpoint"]["name"] == "sleepy"
    other = create_endpoint_model(account.base, "elsewhere", path="/ep/unknown")
    assert admin_client.get(reverse("model_endpoint", args=[other.pk])).json()["ok"] is False


def test_model_detail_and_form_include_the_endpoint_pieces(account, admin_client, provider_token):
    model = create_endpoint_model(account.base, "sleepy", path="/ep/sleepy")
    detail = admin_client.get(reverse("model_detail", args=[model.pk])).content.decode()
    assert 'id="endpoint-actions"' in detail and "endpoint_watch.js" in detail
    form = admin_client.get(reverse("model_add")).content.decode()
    assert 'id="model-picker"' in form and 'id="endpoint-picker"' in form


def test_the_watch_is_bounded_by_the_setting(account, admin_client, provider_token, settings):
    settings.HF_ENDPOINT_WATCH_SECONDS = 42
    answer = admin_client.post(reverse("endpoint_start"), {"namespace": "alice", "name": "sleepy"}).json()
    assert answer["watch_seconds"] == 42


def test_whoami_is_asked_once_for_several_listings(account, admin_client, provider_token):
    listing(admin_client)
    listing(admin_client)
    assert len([r for r in account.requests if r["path"] == "/hub/api/whoami-v2"]) == 1


def test_a_list_that_cannot_be_read_is_not_called_empty(account, admin_client, provider_token, settings):
    settings.HF_ENDPOINTS_API_URL = account.base + "/no-such-api"  # the control plane answers 404
    answer = listing(admin_client)
    assert answer["ok"] is True and answer["endpoints"] == []
    assert {p["category"] for p in answer["problems"]} == {"endpoint_not_found"}
    assert "answered 404 for alice" in answer["problems"][0]["message"]
    model = create_endpoint_model(account.base, "sleepy", path="/ep/sleepy/")
    found = admin_client.get(reverse("model_endpoint", args=[model.pk])).json()
    assert found["ok"] is False and found["unreadable"] is True
    assert "could not be read" in found["message"] and "not one of the Inference Endpoints" not in found["message"]
