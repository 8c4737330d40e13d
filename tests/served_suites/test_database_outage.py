"""A served console on PostgreSQL that stops and starts: every route answers 503 with Retry-After within 2 s while
the database is unreachable (the API in OpenAI's error shape), and serves again within 2 s of its return."""

import time

import requests

from tests.conftest import TOKEN, login_session, wait_for
from tests.served import Console
from tests.stores import Postgres

SETUP = """
from providers.core import roles
from providers.models import HFModel, ProviderSettings
from django.contrib.auth.models import User
roles.set_role(User.objects.create_user("mia", "mia@example.com", "{password}"), roles.MEMBER)
roles.set_role(User.objects.create_user("ada", "ada@example.com", "{password}"), roles.ADMIN)
provider = ProviderSettings.load()
provider.set_secret("api_token", "{token}")
provider.save()
HFModel.objects.create(display_name="llama chat", endpoint_type="inference_providers", task="chat",
                       repo_id="meta-llama/Llama-3.1-8B-Instruct")
"""
NEW_KEY = """
from django.contrib.auth.models import User
from providers.api import keys
print(keys.create(User.objects.get(username="mia"), "outage")[1])
"""
BOUND = 2.0  # seconds


def _routes(console, session, admin, key):
    """Each route a person or a script uses: (name, a function making the request)."""
    api = {"Authorization": f"Bearer {key}"}
    chat = {"model": "llama chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    return {
        "page": lambda: session.get(console.url + "/playground/", timeout=30),
        "run": lambda: session.post(
            console.url + "/playground/run/",
            data={"model": 1, "prompt": "hi", "max_new_tokens": "5"},
            headers={"Accept": "application/x-ndjson"},
            timeout=30,
        ),
        "test connection": lambda: admin.post(
            console.url + "/settings/providers/huggingface/models/1/test/",
            headers={"Accept": "application/json"},
            timeout=30,
        ),
        "models": lambda: requests.get(console.url + "/v1/models", headers=api, timeout=30),
        "chat": lambda: requests.post(console.url + "/v1/chat/completions", json=chat, headers=api, timeout=30),
    }


def _timed(request):
    started = time.monotonic()
    response = request()
    return response, time.monotonic() - started


def test_every_route_answers_503_quickly_while_postgresql_is_down_and_serves_soon_after_it_returns(hf, tmp_path):
    emulator = hf  # with the token and the chat model known
    postgres = Postgres()
    console = None
    try:
        env = {
            "DATABASE_URL": postgres.url,
            "WEB_WORKERS": "1",
            "HF_HUB_URL": emulator.hub_url,
            "HF_ROUTER_URL": emulator.router_url,
            "PLAYGROUND_RUNS_PER_MINUTE": "0",
        }
        console = Console(emulator, tmp_path, SETUP, env=env, token=TOKEN).start()
        key = console.manage("shell", "-c", NEW_KEY).split()[-1]
        session = login_session(console.url, "mia")
        routes = _routes(console, session, login_session(console.url, "ada"), key)
        assert {name: request().status_code for name, request in routes.items()} == dict.fromkeys(routes, 200)

        postgres.stop()
        for _round in range(2):  # the second after the pool has found its connections broken
            for name, request in routes.items():
                response, seconds = _timed(request)
                assert response.status_code == 503, (name, response.status_code, response.text[:300])
                assert seconds < BOUND, (name, seconds)
                assert int(response.headers["Retry-After"]) > 0, name
                if name in ("models", "chat"):
                    error = response.json()["error"]
                    assert error["type"] == "service_unavailable" and error["message"], error

        postgres.start()
        back = time.monotonic()
        for name, request in routes.items():
            assert wait_for(lambda request=request: request().status_code == 200, BOUND), name
        assert time.monotonic() - back < BOUND + 1
    finally:
        if console:
            console.stop()
        postgres.remove()
