"""First-run setup, log-in throttling, people and roles, language, health, logs, deployment settings."""

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse

from providers.core import roles
from providers.models import AuditEntry
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_every_page_leads_to_setup_until_an_account_exists(client):
    for path in ("/", "/playground/", "/settings/providers/", "/accounts/login/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == reverse("setup"), path
    assert client.get("/healthz").status_code == 200


def test_setup_creates_the_first_admin_once(client):
    weak = client.post(
        reverse("setup"), {"username": "root", "email": "root@example.com", "password1": "123", "password2": "123"}
    )
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    assert 'value="root"' in weak.content.decode() and not User.objects.exists()
    response = client.post(
        reverse("setup"),
        {"username": "root", "email": "root@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get()
    assert roles.role_of(user) == roles.ADMIN and user.has_perm(roles.MANAGE_PROVIDERS)
    assert client.get(reverse("provider_list")).status_code == 200  # signed in
    assert client.get(reverse("setup")).status_code == 404
    again = client.post(
        reverse("setup"), {"username": "second", "email": "x@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert again.status_code == 404 and User.objects.count() == 1


def test_login_is_throttled_with_a_clear_message(client, member_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(reverse("login"), {"username": "mia", "password": "wrong"})
        assert (
            response.status_code == 200 and "Please enter a correct username and password" in response.content.decode()
        )
    assert client.post(reverse("login"), {"username": "mia", "password": "wrong"}).status_code == 429
    locked = client.post(reverse("login"), {"username": "mia", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed log-in attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_member_login_lands_on_the_playground(client, member_user):
    response = client.post(reverse("login"), {"username": "mia", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("playground")
    nav = response.content.decode()
    assert "Playground" in nav and "Model Providers" not in nav


def test_admin_adds_people_changes_roles_and_deactivates(admin_client, admin_user):
    response = admin_client.post(
        reverse("people"),
        {
            "username": "newbie",
            "email": "n@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "role": "Member",
        },
    )
    assert response.status_code == 302
    newbie = User.objects.get(username="newbie")
    assert roles.role_of(newbie) == roles.MEMBER and not newbie.has_perm(roles.MANAGE_PROVIDERS)
    admin_client.post(reverse("person_role", args=[newbie.pk]), {"role": "Admin"})
    newbie = User.objects.get(pk=newbie.pk)
    assert roles.role_of(newbie) == roles.ADMIN and newbie.has_perm(roles.MANAGE_PROVIDERS)
    admin_client.post(reverse("person_active", args=[newbie.pk]))
    assert not User.objects.get(pk=newbie.pk).is_active
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"person.create", "person.role", "person.deactivate"} <= actions


def test_the_last_admin_cannot_be_demoted_or_deactivated(admin_client, admin_user):
    response = admin_client.post(reverse("person_role", args=[admin_user.pk]), {"role": "Member"}, follow=True)
    assert "last active admin" in response.content.decode()
    assert roles.role_of(User.objects.get(pk=admin_user.pk)) == roles.ADMIN
    admin_client.post(reverse("person_active", args=[admin_user.pk]))
    assert User.objects.get(pk=admin_user.pk).is_active


def test_deactivated_person_cannot_sign_in(client, member_user):
    member_user.is_active = False
    member_user.save()
    response = client.post(reverse("login"), {"username": "mia", "password": PASSWORD})
    assert "_auth_user_id" not in client.session and response.status_code == 200


def test_a_page_renders_in_chinese_after_switching_language(admin_client):
    response = admin_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/settings/providers/"})
    assert response.status_code == 302
    page = admin_client.get("/settings/providers/").content.decode()
    assert 'lang="zh-hans"' in page
    assert "模型供应商" in page and "设置" in page
    assert "Model Providers" not in page


def test_healthz_answers_503_without_a_database(client, monkeypatch):
    from django.db.backends.utils import CursorWrapper

    def broken(self, sql, params=None):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(CursorWrapper, "execute", broken)
    response = client.get("/healthz")
    assert response.status_code == 503


def test_responses_and_logs_carry_a_request_id(admin_client):
    response = admin_client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    generated = admin_client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 16
    handler = logging.getLogger("django").handlers[0]  # the stdout handler of settings.LOGGING
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        missing = admin_client.get("/settings/providers/huggingface/models/12345/")
    finally:
        handler.setStream(previous)
    out = buffer.getvalue()
    assert f"WARNING [{missing['X-Request-ID']}] django.request: Not Found" in out


def test_bad_input_never_answers_500(admin_client, admin_user):
    assert admin_client.post(reverse("person_role", args=[admin_user.pk]), {"role": "Pope"}).status_code == 302
    assert admin_client.get("/settings/providers/huggingface/models/999/").status_code == 404
    assert admin_client.get("/settings/providers/huggingface/?page=abc").status_code == 200
    assert admin_client.post(reverse("model_test_form"), {}).status_code == 400
    assert admin_client.post(reverse("playground_run"), {"model": "x"}).status_code == 400


def test_security_headers(client, admin_user):
    response = client.get(reverse("login"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "k7!x" + "Zq9#mW2$vL5&nR8*pT1^" * 3,
        "ENCRYPTION_KEYS": "prod1:dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY=",
        "ALLOWED_HOSTS": "console.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "SESSION_COOKIE_SECURE": "true",
        "CSRF_COOKIE_SECURE": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "DATA_DIR": str(tmp_path),
    }
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_permissions_come_from_groups_and_direct_grants_in_one_query(django_assert_num_queries):
    from django.contrib.auth.models import Permission

    admin = make_user("root2", roles.ADMIN)
    plain = User.objects.create_user("plain", "p@example.com", PASSWORD)
    plain.user_permissions.add(Permission.objects.get(codename="use_playground"))
    admin, plain = User.objects.get(pk=admin.pk), User.objects.get(pk=plain.pk)
    with django_assert_num_queries(2):  # the freshness number, then groups and direct grants together
        assert admin.has_perm(roles.MANAGE_PROVIDERS) and admin.has_perm(roles.USE_PLAYGROUND)
    again = User.objects.get(pk=admin.pk)
    with django_assert_num_queries(1):  # until something changes, only the number: the rest is in this process
        assert again.has_perm(roles.MANAGE_PROVIDERS)
    assert plain.has_perm(roles.USE_PLAYGROUND) and not plain.has_perm(roles.MANAGE_PROVIDERS)
    admin.is_active = False
    admin.save()
    assert not User.objects.get(pk=admin.pk).has_perm(roles.USE_PLAYGROUND)


def test_signed_in_requests_read_the_session_from_the_shared_cache(client, member_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(member_user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("playground")).status_code == 200
    assert not [q for q in queries.captured_queries if "django_session" in q["sql"]]


def test_logging_out_ends_the_session_in_cache_and_database(client, member_user):
    from django.contrib.sessions.models import Session

    client.force_login(member_user)
    old = client.cookies["sessionid"].value
    client.post(reverse("logout"))
    assert not Session.objects.filter(session_key=old).exists()
    client.cookies["sessionid"] = old  # a copied cookie, replayed after log-out
    response = client.get(reverse("playground"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def lock_out(client, username, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": username, "password": "wrong"})
    return client.post(reverse("login"), {"username": username, "password": PASSWORD})


def test_the_lock_out_page_says_the_configured_duration(client, member_user, settings):
    settings.AXES_COOLOFF_TIME = __import__("datetime").timedelta(minutes=42)
    page = lock_out(client, "mia", settings).content.decode()
    assert "Wait 42 minutes" in page and "15 minutes" not in page


def test_an_admin_unlocks_a_locked_out_person_and_it_is_audited(admin_client, member_user, settings):
    client = Client()
    assert lock_out(client, "mia", settings).status_code == 429
    people = admin_client.get(reverse("people")).content.decode()
    row = people[people.index('data-user="mia"') :]
    row = row[: row.index("</tr>")]
    assert "locked out" in row and reverse("person_unlock", args=[member_user.pk]) in row
    admin_client.post(reverse("person_unlock", args=[member_user.pk]))
    entry = AuditEntry.objects.get(action="person.unlock")
    assert entry.target_repr == "mia" and entry.actor_name == "ada"
    signed_in = client.post(reverse("login"), {"username": "mia", "password": PASSWORD})
    assert signed_in.status_code == 302
    assert "locked out" not in admin_client.get(reverse("people")).content.decode()


def test_members_cannot_unlock(member_client, admin_user):
    assert member_client.post(reverse("person_unlock", args=[admin_user.pk])).status_code == 403
    assert not AuditEntry.objects.filter(action="person.unlock").exists()
