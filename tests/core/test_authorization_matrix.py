"""Every URL of the console, for anonymous, member and admin. A URL missing from ACCESS fails the suite."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from providers.api import keys
from providers.models import PlaygroundRun
from tests.conftest import create_endpoint_model, create_model

PUBLIC, SIGNED_IN, MEMBER, ADMIN = "public", "signed_in", "member", "admin"
API = "api"  # a key in the Authorization header, never a session (see test_api_routes_with_keys)

# url name -> (who may use it, HTTP method the test uses)
ACCESS = {
    "login": (PUBLIC, "GET"),
    "logout": (PUBLIC, "POST"),
    "set_language": (PUBLIC, "POST"),
    "setup": (PUBLIC, "GET"),
    "healthz": (PUBLIC, "GET"),
    "favicon": (PUBLIC, "GET"),
    "home": (SIGNED_IN, "GET"),
    "people": (ADMIN, "GET"),
    "person_role": (ADMIN, "POST"),
    "person_active": (ADMIN, "POST"),
    "person_unlock": (ADMIN, "POST"),
    "provider_list": (ADMIN, "GET"),
    "huggingface": (ADMIN, "GET"),
    "provider_token": (ADMIN, "POST"),
    "model_add": (ADMIN, "GET"),
    "model_test_form": (ADMIN, "POST"),
    "model_detail": (ADMIN, "GET"),
    "model_edit": (ADMIN, "GET"),
    "model_toggle": (ADMIN, "POST"),
    "model_delete": (ADMIN, "GET"),
    "model_test": (ADMIN, "POST"),
    "hub_model_search": (ADMIN, "GET"),
    "endpoint_list": (ADMIN, "GET"),
    "endpoint_state": (ADMIN, "GET"),
    "endpoint_start": (ADMIN, "POST"),
    "model_endpoint": (ADMIN, "GET"),
    "models_export": (ADMIN, "GET"),
    "models_import": (ADMIN, "GET"),
    "audit_log": (ADMIN, "GET"),
    "playground": (MEMBER, "GET"),
    "compare": (MEMBER, "GET"),
    "model_defaults": (MEMBER, "GET"),
    "playground_run": (MEMBER, "POST"),
    "playground_vectors": (MEMBER, "POST"),
    "run_detail": (MEMBER, "GET"),
    "run_delete": (MEMBER, "POST"),
    "run_stop": (MEMBER, "POST"),
    "account": (SIGNED_IN, "GET"),
    "key_revoke": (SIGNED_IN, "POST"),
    "api_keys_admin": (ADMIN, "GET"),
    "api_key_admin_revoke": (ADMIN, "POST"),
    "api_key_admin_limits": (ADMIN, "POST"),
    "api_models": (API, "GET"),
    "api_model": (API, "GET"),
    "api_chat_completions": (API, "POST"),
    "api_completions": (API, "POST"),
    "api_embeddings": (API, "POST"),
    "api_rerank": (API, "POST"),
    "api_responses": (API, "POST"),
    "api_stored_response": (API, "GET"),
    "api_not_found": (API, "GET"),
}


def all_url_names(patterns=None, prefix=""):
    names = set()
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            names |= all_url_names(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            names.add(entry.name)
    return names


def test_every_url_is_in_the_matrix():
    unknown = all_url_names() - set(ACCESS)
    assert not unknown, f"add these URL names to ACCESS in {__file__}: {sorted(unknown)}"
    assert None not in all_url_names(), "every URL needs a name so that it can be in the matrix"


@pytest.fixture
def objects(db, hf, admin_user, member_user, provider_token):  # hf: views that ask Hugging Face ask the emulator
    model = create_model()
    admin_run = PlaygroundRun.objects.create(user=admin_user, model=model, model_name=model.display_name, prompt="x")
    member_run = PlaygroundRun.objects.create(user=member_user, model=model, model_name=model.display_name, prompt="x")
    admin_key, admin_raw = keys.create(admin_user, "admin script")
    member_key, member_raw = keys.create(member_user, "member script")
    return {
        "model": model,
        "admin_run": admin_run,
        "member_run": member_run,
        "member": member_user,
        "admin_key": admin_key,
        "member_key": member_key,
        "raw": {"admin": admin_raw, "member": member_raw},
    }


def url_for(name, objects, runner):
    kwargs = {}
    if name in ("person_role", "person_active", "person_unlock"):
        kwargs = {"user_id": objects["member"].pk}
    elif name.startswith("model_") and name not in ("model_add", "model_test_form"):
        kwargs = {"pk": objects["model"].pk}
    elif name in ("run_detail", "run_delete", "run_stop"):
        kwargs = {"pk": objects[f"{runner}_run"].pk}
    elif name == "key_revoke":
        kwargs = {"pk": objects[f"{runner}_key"].pk}
    elif name.startswith("api_key_admin_"):
        kwargs = {"pk": objects["member_key"].pk}
    elif name == "api_model":
        kwargs = {"model_id": objects["model"].api_id}
    elif name == "api_stored_response":
        kwargs = {"rest": "resp_1"}
    return reverse(name, kwargs=kwargs)


def call(client, name, objects, runner):
    method = ACCESS[name][1]
    url = url_for(name, objects, runner)
    return client.post(url) if method == "POST" else client.get(url)


@pytest.mark.parametrize("name", sorted(ACCESS))
def test_anonymous(client, objects, name):
    response = call(client, name, objects, "member")
    who = ACCESS[name][0]
    if who == API:
        assert response.status_code == (404 if name == "api_not_found" else 401)
    elif who == PUBLIC:
        assert response.status_code in (200, 302, 404), response.status_code
        assert "/accounts/login/" not in response.get("Location", "") or name == "logout"
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("name", sorted(ACCESS))
def test_member(member_client, objects, name):
    response = call(member_client, name, objects, "member")
    who = ACCESS[name][0]
    if who == API:  # a session is no credential for the API
        assert response.status_code == (404 if name == "api_not_found" else 401)
    elif who == ADMIN:
        assert response.status_code == 403
    else:
        assert response.status_code != 403
        assert "/accounts/login/" not in response.get("Location", "") or name == "logout"
        if ACCESS[name][1] == "GET" and name not in ("setup", "home", "login"):
            assert response.status_code == 200


@pytest.mark.parametrize("name", sorted(ACCESS))
def test_admin(admin_client, objects, name):
    response = call(admin_client, name, objects, "admin")
    if ACCESS[name][0] == API:
        assert response.status_code == (404 if name == "api_not_found" else 401)
        return
    assert response.status_code != 403
    assert response.status_code < 500
    if ACCESS[name][1] == "GET" and name not in ("setup", "home", "login"):
        assert response.status_code == 200, (name, response.status_code)


def test_setup_page_is_gone_once_an_account_exists(client, admin_user):
    assert client.get(reverse("setup")).status_code == 404


API_NAMES = sorted(name for name, (who, _method) in ACCESS.items() if who == API and name != "api_not_found")
API_BODY = {"model": "flan", "prompt": "x", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2}


OWN_BODIES = {
    "api_embeddings": {"model": "bge", "input": "x"},
    "api_rerank": {"model": "reranker", "query": "x", "documents": ["a", "b"]},
    "api_responses": {"model": "llama-chat", "input": "x", "max_output_tokens": 2},
}


@pytest.fixture
def vector_models(hf):
    create_endpoint_model(hf.add_engine("bge", "tei"), "bge", task="feature-extraction", path="")
    create_endpoint_model(hf.add_engine("reranker", "tei_rerank"), "reranker", task="text-ranking", path="")


def call_api(name, objects, raw_key):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"} if raw_key else {}
    url = url_for(name, objects, "member")
    client = Client(enforce_csrf_checks=True, **headers)  # no session, no CSRF token: the key is enough
    if ACCESS[name][1] == "POST":
        # Each route's own fields: a field the route does not know is refused by name, not ignored.
        chat = name == "api_chat_completions"
        body = {k: v for k, v in API_BODY.items() if k != ("prompt" if chat else "messages")}
        body["model"] = "llama-chat" if chat else "flan"
        body = OWN_BODIES.get(name, body)
        return client.post(url, json.dumps(body), content_type="application/json")
    return client.get(url)


@pytest.mark.parametrize("name", API_NAMES)
@pytest.mark.parametrize("who", ["member", "admin"])
def test_api_routes_answer_member_and_admin_keys(hf, objects, chat_model, vector_models, name, who):
    response = call_api(name, objects, objects["raw"][who])
    # A stored response's route answers that the console keeps none, to a key that holds.
    assert response.status_code == (404 if name == "api_stored_response" else 200), (name, response.content)


@pytest.mark.parametrize("name", API_NAMES)
@pytest.mark.parametrize("case", ["no key", "unknown key", "revoked", "expired", "owner deactivated", "hf token"])
def test_api_routes_refuse_keys_that_do_not_hold(objects, name, case):
    raw = objects["raw"]["member"]
    key = objects["member_key"]
    if case == "no key":
        raw = ""
    elif case == "unknown key":
        raw = keys.generate()
    elif case == "hf token":
        raw = "hf_emuTOKENvalid0000read1234"
    elif case == "revoked":
        keys.revoke(key)
    elif case == "expired":
        key.expires_at = timezone.now() - timedelta(minutes=1)
        key.save()
    elif case == "owner deactivated":
        objects["member"].is_active = False
        objects["member"].save()
    response = call_api(name, objects, raw)
    assert response.status_code == 401, (case, response.content)
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("name", API_NAMES)
def test_api_routes_refuse_an_owner_without_the_models_permission(objects, name):
    objects["member"].groups.clear()
    response = call_api(name, objects, objects["raw"]["member"])
    assert response.status_code == 403


def test_a_member_cannot_revoke_someone_elses_key(member_client, objects):
    response = member_client.post(reverse("key_revoke", kwargs={"pk": objects["admin_key"].pk}))
    assert response.status_code == 404
    objects["admin_key"].refresh_from_db()
    assert objects["admin_key"].revoked_at is None
