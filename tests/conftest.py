"""Shared fixtures: people by role, the Hugging Face emulator, configured models, headless Chromium."""

import os
import shutil
import socket
import threading
import time

import pytest
from django.contrib.auth import get_user_model

from providers.core import roles
from providers.models import EndpointType, HFModel, ProviderSettings, Task
from tests.hf_emulator import Emulator

TOKEN = "hf_emuTOKENvalid0000read1234"  # the plaintext the leak tests search for
OTHER_TOKEN = "hf_emuOTHERtoken000000wxyz"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Sessions live in the cache too; the database rolls back after each test, so the cache is emptied."""
    from django.core.cache import cache

    from providers.api import catalog, keys
    from providers.core import cached
    from providers.huggingface import provider_routes, tokens

    # Process caches keyed on the freshness number, which rolls back with each test's database, so a number
    # may come round again.
    for c in (cache, cached, catalog._cache, keys._cache):
        c.clear()
    keys._last_used_written.clear()
    tokens.forget()  # a tokenizer a test's emulator served is not another test's
    provider_routes.forget()
    # The file store's limit counters outlive the database's rollback (a user id comes round again with the
    # counters of an earlier test's user); the database's own roll back with it.
    from django.conf import settings

    shutil.rmtree(settings.API_LIMITS_DIR, ignore_errors=True)
    yield
    for c in (cache, cached, catalog._cache, keys._cache):
        c.clear()


@pytest.fixture
def file_counters():
    """The limits counted in files, whatever the suite's database (on PostgreSQL they would be in it)."""
    from providers.core import quota_stores, quotas

    quotas.use(quota_stores.FileStore())
    yield
    quotas.use(None)


@pytest.fixture(scope="session")
def emulator():
    emu = Emulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def hf(emulator, settings):
    """The emulator, reset, with the console pointed at it and a valid read token and a few models known."""
    emulator.reset()
    settings.HF_HUB_URL = emulator.hub_url
    settings.HF_ROUTER_URL = emulator.router_url
    settings.HF_ENDPOINTS_API_URL = emulator.base + "/endpoints-api"
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    emulator.add_token(TOKEN, name="alice", role="read")
    emulator.add_token(OTHER_TOKEN, name="bob", role="write")
    emulator.add_model("google/flan-t5-base", pipeline_tag="text2text-generation", providers={"hf-inference": "live"})
    emulator.add_model("openai-community/gpt2", pipeline_tag="text-generation", providers={"hf-inference": "live"})
    emulator.add_model(
        "meta-llama/Llama-3.1-8B-Instruct",
        pipeline_tag="text-generation",
        warm=False,
        gated="manual",
        granted={"alice"},
        providers={"together": "live", "fireworks-ai": "staging"},
        tags=["transformers", "conversational"],
    )
    emulator.add_endpoint("tgi")
    return emulator


@pytest.fixture(scope="session")
def faulty_server():
    from tests.fault_upstream import FaultUpstream

    server = FaultUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def faulty(faulty_server, hf):
    """The misbehaving server, its records cleared; `hf` points the console at 127.0.0.1 and allows http."""
    faulty_server.reset()
    faulty_server.pace = 0.05
    return faulty_server


def make_user(username, role, **extra):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD, **extra)
    roles.set_role(user, role)
    return user


@pytest.fixture
def admin_user(db):
    return make_user("ada", roles.ADMIN)


@pytest.fixture
def member_user(db):
    return make_user("mia", roles.MEMBER)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def member_client(db, member_user):
    from django.test import Client

    c = Client()
    c.force_login(member_user)
    return c


@pytest.fixture
def provider_token(db):
    provider = ProviderSettings.load()
    provider.set_secret("api_token", TOKEN)
    provider.save()
    return provider


def create_model(**fields):
    defaults = {
        "display_name": "flan",
        "endpoint_type": EndpointType.HOSTED_API,
        "task": Task.TEXT2TEXT_GENERATION,
        "repo_id": "google/flan-t5-base",
    }
    defaults.update(fields)
    token = defaults.pop("token", None)
    model = HFModel(**defaults)
    if token:
        model.set_secret("api_token", token)
    model.save()
    return model


def create_endpoint_model(base, display_name="my tgi", task=Task.TEXT_GENERATION, path="/ep/tgi", **fields):
    return create_model(
        display_name=display_name,
        endpoint_type=EndpointType.INFERENCE_ENDPOINT,
        repo_id="",
        task=task,
        endpoint_url=base + path,
        **fields,
    )


def open_chat_stream(target, seconds=20):
    """A relayed chat stream to `target` (a Target of an OpenAI-compatible server), opened as /v1/ opens one:
    the Generation of its SSE bytes and, last, its End."""
    from providers.huggingface import relay
    from providers.huggingface.transport import Deadline

    body = relay.request_body(target, "chat", {"messages": [{"role": "user", "content": "hi"}], "stream": True}, {})
    return relay.open_relay(target, "chat", body, "chatcmpl-1", Deadline(seconds), False)[1]


def model_form_data(**overrides):
    """The model form's fields as a browser posts them; None drops a field."""
    data = {
        "display_name": "flan",
        "endpoint_type": "hosted_api",
        "task": "text2text-generation",
        "repo_id": "google/flan-t5-base",
        "endpoint_url": "",
        "api_token": "",
        "enabled": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def login_session(base_url, username, password=PASSWORD):
    """A requests session signed in to a running console, with its CSRF header set."""
    import requests

    session = requests.Session()
    session.get(base_url + "/accounts/login/")
    response = session.post(
        base_url + "/accounts/login/",
        allow_redirects=False,
        data={"username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
    )
    assert response.status_code == 302, "log-in failed"
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    return session


@pytest.fixture
def hosted_model(db, provider_token):
    return create_model()


@pytest.fixture
def endpoint_model(db, hf, provider_token):
    return create_endpoint_model(hf.base)


@pytest.fixture
def chat_model(db, provider_token):
    return create_model(
        display_name="llama chat",
        endpoint_type=EndpointType.INFERENCE_PROVIDERS,
        task=Task.CHAT,
        repo_id="meta-llama/Llama-3.1-8B-Instruct",
    )


CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path():
    for candidate in CHROMIUM_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if not path:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium for the browser tests")
        pytest.skip("no Chromium installed (apt-get install chromium); browser tests need it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=path,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors include CSP refusals; a 404 document (visited on purpose) is not a page error.
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" and "status of 404" not in msg.text else None,
    )
    yield page
    context.close()
    wait_for_requests_to_end(live_server)
    assert not errors, f"JavaScript errors in the page: {errors}"


def login(page, username, password=PASSWORD):
    """Sign in and wait for the page it lands on: a route or click made during that navigation can be lost."""
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.wait_for_load_state()


def wait_for_requests_to_end(live_server, seconds=15):
    """Until the live server has finished every request it took. It records a /v1/ call after the caller has the
    last byte (the response's close()); a test that ended first would have its database flushed under that write,
    and the write land in the next test's. (The emulator's request threads are told apart by their server: a
    thread's target is private, but there is no public way to find which server started it.)"""
    server = live_server.thread.httpd

    def serving():
        return [t for t in threading.enumerate() if getattr(getattr(t, "_target", None), "__self__", None) is server]

    assert wait_for(lambda: not serving(), seconds), "the live server is still serving a request"


@pytest.fixture
def settled_live_server(live_server):
    """live_server for tests calling it with clients that hold connections open: close them before this ends."""
    yield live_server
    wait_for_requests_to_end(live_server)


def free_port():
    """A port on 127.0.0.1 that nobody listens on (a server started on it at once gets it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, seconds):
    """Whether `predicate()` comes true within `seconds`, polling it every 50 ms."""
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def run_coroutine(coroutine):
    """asyncio.run() in a thread of its own: Playwright's sync API, used by the browser tests of the same session,
    leaves an event loop running in the main thread, where asyncio.run() refuses to start another."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
