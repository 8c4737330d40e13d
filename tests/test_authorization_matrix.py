"""Every URL of the console, for anonymous, member and admin. A URL missing from ACCESS fails the suite."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from providers.models import PlaygroundRun
from tests.conftest import create_model

PUBLIC, SIGNED_IN, MEMBER, ADMIN = "public", "signed_in", "member", "admin"

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
    "models_export": (ADMIN, "GET"),
    "models_import": (ADMIN, "GET"),
    "audit_log": (ADMIN, "GET"),
    "playground": (MEMBER, "GET"),
    "compare": (MEMBER, "GET"),
    "playground_run": (MEMBER, "POST"),
    "run_detail": (MEMBER, "GET"),
    "run_delete": (MEMBER, "POST"),
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
def objects(db, admin_user, member_user, provider_token):
    model = create_model()
    admin_run = PlaygroundRun.objects.create(user=admin_user, model=model, model_name=model.display_name, prompt="x")
    member_run = PlaygroundRun.objects.create(user=member_user, model=model, model_name=model.display_name, prompt="x")
    return {"model": model, "admin_run": admin_run, "member_run": member_run, "member": member_user}


def url_for(name, objects, runner):
    kwargs = {}
    if name in ("person_role", "person_active"):
        kwargs = {"user_id": objects["member"].pk}
    elif name.startswith("model_") and name not in ("model_add", "model_test_form"):
        kwargs = {"pk": objects["model"].pk}
    elif name in ("run_detail", "run_delete"):
        kwargs = {"pk": objects[f"{runner}_run"].pk}
    return reverse(name, kwargs=kwargs)


def call(client, name, objects, runner):
    method = ACCESS[name][1]
    url = url_for(name, objects, runner)
    return client.post(url) if method == "POST" else client.get(url)


@pytest.mark.parametrize("name", sorted(ACCESS))
def test_anonymous(client, objects, name):
    response = call(client, name, objects, "member")
    who = ACCESS[name][0]
    if who == PUBLIC:
        assert response.status_code in (200, 302, 404), response.status_code
        assert "/accounts/login/" not in response.get("Location", "") or name == "logout"
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("name", sorted(ACCESS))
def test_member(member_client, objects, name):
    response = call(member_client, name, objects, "member")
    who = ACCESS[name][0]
    if who == ADMIN:
        assert response.status_code == 403
    else:
        assert response.status_code != 403
        assert "/accounts/login/" not in response.get("Location", "") or name == "logout"
        if ACCESS[name][1] == "GET" and name not in ("setup", "home", "login"):
            assert response.status_code == 200


@pytest.mark.parametrize("name", sorted(ACCESS))
def test_admin(admin_client, objects, name):
    response = call(admin_client, name, objects, "admin")
    assert response.status_code != 403
    assert response.status_code < 500
    if ACCESS[name][1] == "GET" and name not in ("setup", "home", "login"):
        assert response.status_code == 200, (name, response.status_code)


def test_setup_page_is_gone_once_an_account_exists(client, admin_user):
    assert client.get(reverse("setup")).status_code == 404
