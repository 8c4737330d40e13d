"""The plaintext token must appear nowhere but in the outgoing Authorization header.

A full scenario runs (setup, tokens saved, edited and replaced, tests, playground, export, error pages,
commands), then the database file or dump, every response, the logs and the exports are searched.
"""

import io
import json
import logging
import os
import pickle
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from providers.models import HFModel
from tests.conftest import PASSWORD, TOKEN

MODEL_TOKEN = "hf_modelOnlySECRET9876zyxw"
pytestmark = pytest.mark.django_db(transaction=True)


class RecordingClient(Client):
    """A test client that keeps every response body, streamed ones included."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bodies = []

    def request(self, **request):
        response = super().request(**request)
        if response.streaming:
            content = b"".join(response.streaming_content)
            self.bodies.append(content)
            response.streaming_content = [content]
        else:
            self.bodies.append(response.content)
        self.bodies.append(json.dumps(dict(response.headers)).encode())
        return response


@pytest.fixture
def log_buffer():
    handler = logging.getLogger("django").handlers[0]
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(handler.formatter)
    for f in handler.filters:
        capture.addFilter(f)
    root = logging.getLogger()
    loggers = [root, logging.getLogger("django")]
    for logger in loggers:
        logger.addHandler(capture)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield buffer
    root.setLevel(old_level)
    for logger in loggers:
        logger.removeHandler(capture)


def cache_text():
    """Every file of the cache folder (sessions live there): raw, and unpacked the way the file cache writes
    them (a pickled expiry time, then the zlib-compressed pickled value)."""
    data = b""
    for path in Path(settings.CACHES["default"]["LOCATION"]).glob("*.djcache"):
        with open(path, "rb") as handle:
            pickle.load(handle)
            packed = handle.read()
        data += packed + zlib.decompress(packed)
    return data


def database_text():
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        connection.close()
        path = db["NAME"]
        data = b""
        for suffix in ("", "-wal", "-journal"):
            if os.path.exists(path + suffix):
                with open(path + suffix, "rb") as handle:
                    data += handle.read()
        return data
    if not shutil.which("pg_dump"):
        pytest.fail("pg_dump is needed to search the PostgreSQL database (apt-get install postgresql-client)")
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    result = subprocess.run(
        [
            "pg_dump",
            "-h",
            db.get("HOST") or "localhost",
            "-p",
            str(db.get("PORT") or 5432),
            "-U",
            db["USER"],
            "-d",
            connection.settings_dict["NAME"],
            "--data-only",
        ],
        env=env,
        capture_output=True,
        check=True,
    )
    return result.stdout


def test_the_token_leaks_nowhere(hf, log_buffer, settings):
    hf.add_token(MODEL_TOKEN, name="carol", role="write")
    c = RecordingClient()
    c.get("/")
    c.post(
        reverse("setup"), {"username": "root", "email": "r@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    # Provider token, a bad token, a model with its own token, a failed save with a token typed.
    c.post(reverse("provider_token"), {"api_token": TOKEN}, follow=True)
    c.post(reverse("provider_token"), {"api_token": TOKEN + " with spaces"}, follow=True)
    form = {
        "display_name": "flan",
        "endpoint_type": "hosted_api",
        "task": "text2text-generation",
        "repo_id": "google/flan-t5-base",
        "enabled": "on",
    }
    c.post(reverse("model_add"), {**form, "repo_id": "bad repo", "api_token": MODEL_TOKEN})
    c.post(reverse("model_add"), {**form, "api_token": MODEL_TOKEN}, follow=True)
    model = HFModel.objects.get()
    c.get(reverse("model_edit", args=[model.pk]))
    c.post(
        reverse("model_edit", args=[model.pk]), {**form, "version": model.version, "temperature": "0.5"}, follow=True
    )
    c.post(reverse("model_edit", args=[model.pk]), {**form, "version": 1, "api_token": MODEL_TOKEN})  # conflict
    c.post(reverse("model_test", args=[model.pk]))
    c.post(reverse("model_test_form"), {**form, "display_name": "other", "api_token": TOKEN})
    hf.fault("hf-inference", "status", status=401, body={"error": "Invalid credentials in Authorization header"})
    c.post(reverse("model_test", args=[model.pk]))
    c.get(reverse("model_detail", args=[model.pk]))
    c.get(reverse("huggingface"))
    # Playground, streamed and not, success and failure.
    c.post(reverse("playground_run"), {"model": model.pk, "prompt": "hi", "stream": "on"})
    c.post(reverse("playground_run"), {"model": model.pk, "prompt": "hi"})
    hf.fault("hf-inference", "status", status=403, body={"error": "forbidden"})
    c.post(reverse("playground_run"), {"model": model.pk, "prompt": "hi", "stream": "on"})
    c.get(reverse("playground"))
    # The pickers: Hub search, the account's endpoints, resume and its state (each one asks Hugging Face).
    hf.add_control_endpoint("alice", "sleepy", state="paused")
    c.get(reverse("hub_model_search"), {"q": "flan", "task": "text2text-generation"})
    c.get(reverse("endpoint_list"))
    c.post(reverse("endpoint_start"), {"namespace": "alice", "name": "sleepy"})
    c.get(reverse("endpoint_state"), {"namespace": "alice", "name": "sleepy"})
    # Exports, audit, error pages, a member's view.
    export = c.get(reverse("models_export")).content
    cmd_out = io.StringIO()
    call_command("export_models", stdout=cmd_out)
    c.get(reverse("audit_log"))
    c.get("/no-such-page/")
    c.post(
        reverse("people"),
        {"username": "mia", "email": "m@example.com", "password1": PASSWORD, "password2": PASSWORD, "role": "Member"},
    )
    member = RecordingClient()
    member.post(reverse("login"), {"username": "mia", "password": PASSWORD})
    member.get(reverse("playground"))
    member.get(reverse("huggingface"))  # 403 page
    try:
        call_command("check_connections", stdout=cmd_out, stderr=cmd_out)
    except Exception as exc:  # a failing model makes it exit non-zero; its message is searched too
        cmd_out.write(str(exc))

    # The token did reach Hugging Face, in the Authorization header and nowhere else in the requests.
    sent = [r for r in hf.requests if r["headers"].get("Authorization") in (f"Bearer {TOKEN}", f"Bearer {MODEL_TOKEN}")]
    assert sent
    for request in hf.requests:
        assert TOKEN.encode() not in request["body"] and MODEL_TOKEN.encode() not in request["body"]
        assert TOKEN not in request["path"]

    haystacks = {
        "responses": b"\n".join(c.bodies + member.bodies),
        "logs": log_buffer.getvalue().encode(),
        "export": export,
        "commands": cmd_out.getvalue().encode(),
        "database": database_text(),
        "cache": cache_text(),
    }
    assert len(haystacks["responses"]) > 10000 and len(haystacks["database"]) > 1000
    assert haystacks["cache"]  # the sessions of the two people signed in
    for secret in (TOKEN, MODEL_TOKEN):
        for name, text in haystacks.items():
            assert secret.encode() not in text, f"the token leaked into {name}"


def test_api_keys_leak_nowhere(hf, log_buffer, provider_token, admin_user, member_user):
    """A key is in the one response that creates it (and the command's last line), and nowhere else."""
    from providers.models import APIKey
    from tests.conftest import create_model

    create_model(
        display_name="llama chat",
        endpoint_type="inference_providers",
        task="chat",
        repo_id="meta-llama/Llama-3.1-8B-Instruct",
    )
    member = RecordingClient()
    member.force_login(member_user)
    created = member.post(reverse("account"), {"name": "notebook"})
    shown = created.content.decode()
    key = shown.split('id="new-key-value">')[1].split("<")[0]
    assert key.startswith("hfc_")
    member.bodies.remove(created.content)
    member.get(reverse("account"))

    api = RecordingClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    chat = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    api.get("/v1/models")
    api.post("/v1/chat/completions", json.dumps(chat), content_type="application/json")
    api.post("/v1/chat/completions", json.dumps({**chat, "stream": True}), content_type="application/json")
    api.post("/v1/chat/completions", json.dumps({**chat, "temperature": 9}), content_type="application/json")
    api.post("/v1/completions", json.dumps({"model": "nope", "prompt": "x"}), content_type="application/json")
    hf.fault("/v1/chat/completions", "status", status=500, body={"error": "boom"})
    api.post("/v1/chat/completions", json.dumps(chat), content_type="application/json")

    cmd_out = io.StringIO()
    call_command("create_api_key", "ada", "ci", "--expires", "3", stdout=cmd_out)
    lines = cmd_out.getvalue().strip().splitlines()
    command_key, cmd_out = lines[-1], io.StringIO("\n".join(lines[:-1]))

    admin = RecordingClient()
    admin.force_login(admin_user)
    admin.get(reverse("api_keys_admin"))
    for row in APIKey.objects.all():
        admin.post(reverse("api_key_admin_limits", args=[row.pk]), {"requests_per_minute": "5", "max_streams": ""})
        admin.post(reverse("api_key_admin_revoke", args=[row.pk]))
    api.get("/v1/models")  # refused now: the refusal must not echo the key either
    admin.get(reverse("audit_log"))
    export = admin.get(reverse("models_export")).content
    call_command("export_models", stdout=cmd_out)

    for request in hf.requests:  # the console's own token goes upstream, never the caller's key
        assert key not in request["headers"].get("Authorization", "")
        assert key.encode() not in request["body"]
    haystacks = {
        "responses": b"\n".join(member.bodies + api.bodies + admin.bodies),
        "logs": log_buffer.getvalue().encode(),
        "export": export,
        "commands": cmd_out.getvalue().encode(),
        "database": database_text(),
        "cache": cache_text(),
    }
    assert len(haystacks["responses"]) > 5000
    for secret in (key, command_key):
        for name, text in haystacks.items():
            assert secret.encode() not in text, f"an API key leaked into {name}"
            assert secret[12:].encode() not in text, f"the secret part of an API key leaked into {name}"
