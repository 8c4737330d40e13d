"""Key pages: a person's own keys (create once-shown, list with usage, revoke), the admins' list and limits."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from providers.api import keys
from providers.models import APICall, APIKey, AuditEntry


def test_a_new_key_is_shown_once_and_stored_as_a_hash(member_client, member_user):
    response = member_client.post(reverse("account"), {"name": "notebook", "expires_in_days": "30"})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    raw = response.content.decode().split('id="new-key-value">')[1].split("<")[0]
    key = APIKey.objects.get(owner=member_user)
    assert raw.startswith("hfc_") and key.prefix == raw[:12]
    assert key.key_hash == keys.key_hash(raw) and raw not in key.key_hash
    assert key.expires_at is not None
    again = member_client.get(reverse("account"))
    assert raw not in again.content.decode() and key.prefix in again.content.decode()
    assert AuditEntry.objects.filter(action="api_key.create", target_id=str(key.pk)).exists()


def test_a_key_needs_a_name_and_a_sane_expiry(member_client):
    assert "new-key-value" not in member_client.post(reverse("account"), {"name": "  "}).content.decode()
    response = member_client.post(reverse("account"), {"name": "x", "expires_in_days": "99999999999999999999"})
    assert response.status_code == 200 and "new-key-value" not in response.content.decode()
    assert not APIKey.objects.exists()


def test_own_keys_list_usage_and_revoke(member_client, member_user, admin_user):
    key, _raw = keys.create(member_user, "script")
    other, _ = keys.create(admin_user, "admin tool")
    APICall.objects.create(key=key, user=member_user, route="chat", status=200, prompt_tokens=3, completion_tokens=7)
    APICall.objects.create(key=key, user=member_user, route="chat", status=502, category="upstream_error")
    page = member_client.get(reverse("account")).content.decode()
    assert "script" in page and "admin tool" not in page
    row = page.split(f'data-key="{key.prefix}"')[1].split("</tr>")[0]
    assert 'data-label="Calls (30 days)">2</td>' in row and 'data-label="Failed">1</td>' in row and "3 / 7" in row
    response = member_client.post(reverse("key_revoke", args=[key.pk]))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert member_client.post(reverse("key_revoke", args=[other.pk])).status_code == 404


def test_admin_sees_every_key_with_usage_per_person_and_model(admin_client, member_user, admin_user):
    key, _ = keys.create(member_user, "member script")
    APICall.objects.create(key=key, user=member_user, model_name="llama chat", route="chat", status=200)
    page = admin_client.get(reverse("api_keys_admin")).content.decode()
    assert "member script" in page and key.prefix in page and "mia" in page
    assert "llama chat" in page.split('id="usage-models"')[1]
    assert "mia" in page.split('id="usage-users"')[1]


def test_admin_sets_a_keys_limits_and_revokes_it(admin_client, member_user):
    key, raw = keys.create(member_user, "script")
    admin_client.post(reverse("api_key_admin_limits", args=[key.pk]), {"requests_per_minute": "5", "max_streams": ""})
    key.refresh_from_db()
    assert key.requests_per_minute == 5 and key.max_streams is None
    assert AuditEntry.objects.filter(action="api_key.limits").exists()
    admin_client.post(reverse("api_key_admin_limits", args=[key.pk]), {"requests_per_minute": "-1"})
    key.refresh_from_db()
    assert key.requests_per_minute == 5
    admin_client.post(reverse("api_key_admin_revoke", args=[key.pk]))
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert raw not in "".join(str(e.changes) + e.target_repr for e in AuditEntry.objects.all())


def test_create_api_key_command(member_user):
    out = io.StringIO()
    call_command("create_api_key", "mia", "ci", "--expires", "7", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    assert APIKey.objects.get().key_hash == keys.key_hash(raw)
    for args in (["nobody", "x"], ["mia", " "], ["mia", "x", "--expires", "0"]):
        with pytest.raises(CommandError):
            call_command("create_api_key", *args, stdout=io.StringIO())


def test_key_name_refuses_direction_controls_like_every_other_name(member_client):
    """style: names refuse BIDI controls (generation_params.name_error); NewKeyForm.clean_name does not, so a key
    named "prod\u202ekey" is listed reversed on the admins' page."""
    from providers.models import APIKey

    response = member_client.post("/account/", {"name": "prod\u202eyek-lanretni", "expires_in_days": ""})
    assert response.status_code == 200
    assert not APIKey.objects.filter(name__contains="\u202e").exists()


def test_a_person_may_hold_at_most_api_max_keys_per_user_working_keys(member_user, member_client, settings):
    import io

    from django.core.management import CommandError, call_command

    from providers.models import APIKey

    settings.API_MAX_KEYS_PER_USER = 2
    first = keys.create(member_user, "one")[0]
    keys.create(member_user, "two")
    page = member_client.post("/account/", {"name": "three", "expires_in_days": ""}).content.decode()
    assert "as many as one person may" in page
    with pytest.raises(CommandError, match="API_MAX_KEYS_PER_USER"):
        call_command("create_api_key", "mia", "four", stdout=io.StringIO())
    assert APIKey.objects.count() == 2
    keys.revoke(first)
    member_client.post("/account/", {"name": "three", "expires_in_days": ""})
    assert APIKey.objects.filter(name="three").exists()
