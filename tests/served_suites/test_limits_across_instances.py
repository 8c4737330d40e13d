"""Two consoles on one PostgreSQL and one Redis, or on PostgreSQL alone (separate DATA_DIRs, one worker each), share
their limits: a key's requests per minute, its open streams and a person's playground runs per minute are exact
through both, a burst included, and a stream slot of an instance killed -9 is free again after its lease. One
console on SQLite admits exactly its runs per minute from a burst too."""

import os
import signal
import threading
import time
from functools import partial

import pytest
import requests

from tests.conftest import TOKEN, login_session, wait_for
from tests.served import Console
from tests.stores import Postgres, Redis

SETUP = """
from providers.core import roles
from providers.models import HFModel, ProviderSettings
from django.contrib.auth.models import User
roles.set_role(User.objects.create_user("mia", "mia@example.com", "{password}"), roles.MEMBER)
provider = ProviderSettings.load()
provider.set_secret("api_token", "{token}")
provider.save()
HFModel.objects.create(display_name="paced", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{base}/ep/tgi")
"""
MEMBER = """
from providers.core import roles
from django.contrib.auth.models import User
roles.set_role(User.objects.create_user("{name}", "{name}@example.com", "{password}"), roles.MEMBER)
"""
KEY_LIMITS = """
from providers.models import APIKey
key = APIKey.objects.get(prefix="{prefix}")
for name, value in dict({fields}).items():
    setattr(key, name, value)
key.save()
"""
LEASE = 2  # seconds: a short lease, so that a dead instance's slot comes back within the test


def _env(emulator, folder):
    return {
        "DATA_DIR": str(folder),
        "API_LIMITS_DIR": str(folder / "limits"),
        "HF_HUB_URL": emulator.hub_url,
        "HF_ROUTER_URL": emulator.router_url,
        "WEB_WORKERS": "1",
        "API_MAX_KEYS_PER_USER": "0",
        "PLAYGROUND_RUNS_PER_MINUTE": "10",
        "STREAM_SLOT_LEASE_SECONDS": str(LEASE),
    }


@pytest.fixture(scope="module", params=["redis", "postgresql"])
def pair(request, emulator, tmp_path_factory):
    """Two consoles (started in process groups of their own, so that one can be killed whole) on one PostgreSQL
    and one Redis, whose counters then live in Redis; or on PostgreSQL alone (each with its own file cache),
    whose counters then live in the database."""
    tmp = tmp_path_factory.mktemp("two-instances")
    postgres, redis = Postgres(), Redis(tmp).start()
    consoles = []
    try:
        shared = {"DATABASE_URL": postgres.url}
        if request.param == "redis":
            shared["CACHE_URL"] = redis.url
        for name, setup in (("a", SETUP), ("b", "")):  # one setup: the database is the same
            folder = tmp / name
            folder.mkdir(mode=0o700)
            console = Console(emulator, folder, setup, {**_env(emulator, folder), **shared}, token=TOKEN)
            consoles.append(console.start(own_group=True))
        people = iter(range(1, 1000))

        def new_key(**limits):
            """A key of a person of its own (a key's lowered limit holds for all its owner's keys)."""
            name = f"p{next(people)}"
            consoles[0].manage("shell", "-c", MEMBER.format(name=name, password="unused-password-1234"))
            key = consoles[0].manage("create_api_key", name, "script").strip().splitlines()[-1]
            fields = ", ".join(f"{k}={v}" for k, v in limits.items())
            consoles[0].manage("shell", "-c", KEY_LIMITS.format(prefix=key[:12], fields=fields))
            return key

        yield consoles, new_key
    finally:
        for console in consoles:
            console.stop()
        redis.stop()
        postgres.remove()


def _at_once(calls):
    """Run every call of `calls` in a thread of its own, released together; their results, in order."""
    start, results = threading.Barrier(len(calls)), [None] * len(calls)

    def one(i, call):
        start.wait()
        results[i] = call()

    threads = [threading.Thread(target=one, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _api(console, key, path, **kwargs):
    headers = {"Authorization": f"Bearer {key}"}
    if "json" in kwargs:
        return requests.post(console.url + path, headers=headers, timeout=30, **kwargs)
    return requests.get(console.url + path, headers=headers, timeout=30, **kwargs)


def _stream(console, key):
    body = {"model": "paced", "prompt": "x", "max_tokens": 30, "stream": True}
    return _api(console, key, "/v1/completions", json=body, stream=True)


def _admitted(console, key):
    """Whether a stream of `key` is admitted on `console` now (closed at once if it is)."""
    with _stream(console, key) as answer:
        return answer.status_code == 200


def test_a_key_limited_to_10_a_minute_gets_10_of_30_calls_through_both_instances(pair, hf):
    (a, b), new_key = pair
    key = new_key(requests_per_minute=10)
    answers = _at_once([partial(_api, (a, b)[i % 2], key, "/v1/models") for i in range(30)])
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) == 10 and statuses.count(429) == 20, statuses
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_a_cap_of_2_streams_admits_2_through_both_instances(pair, hf):
    (a, b), new_key = pair
    key = new_key(max_streams=2)
    hf.token_delay = 0.2  # each admitted stream stays open for seconds
    answers = _at_once([partial(_stream, (a, b)[i % 2], key) for i in range(8)])
    try:
        statuses = [answer.status_code for answer in answers]
        assert statuses.count(200) == 2 and statuses.count(429) == 6, statuses
        refused = next(answer for answer in answers if answer.status_code == 429)
        assert refused.json()["error"]["code"] == "too_many_streams"
    finally:
        for answer in answers:
            answer.close()
    # Closed streams give their slots back on whichever instance held them.
    assert wait_for(lambda: _admitted(b, key), 5)


def test_a_stream_keeps_its_slot_past_its_lease_until_its_instance_is_killed(pair, hf):
    (a, b), new_key = pair
    key = new_key(max_streams=1)
    hf.token_delay = 0.5
    held = _stream(a, key)
    assert held.status_code == 200
    time.sleep(2 * LEASE)  # a live stream outlasts its lease: its instance renews it
    assert not _admitted(b, key)
    os.killpg(a.process.pid, signal.SIGKILL)  # master and worker at once: nobody releases the slot
    a.process.wait(timeout=10)
    held.close()
    try:
        assert not _admitted(b, key)  # the lease still runs
        assert wait_for(lambda: _admitted(b, key), LEASE + 2)
    finally:
        a.start(own_group=True)


def _runs(consoles, count):
    """Status codes of `count` playground runs of mia sent at once, spread over `consoles`."""
    session = login_session(consoles[0].url, "mia")  # the session is in the database too: valid on every instance

    def run(console):
        data = {"model": 1, "prompt": "go", "max_new_tokens": "3"}
        response = requests.post(
            console.url + "/playground/run/", data=data, cookies=session.cookies, headers=session.headers, timeout=30
        )
        if response.status_code == 429:
            assert "limit of runs per minute" in response.json()["errors"]["__all__"][0]["message"]
        return response.status_code

    return _at_once([partial(run, consoles[i % len(consoles)]) for i in range(count)])


def test_a_burst_of_20_runs_through_both_instances_admits_10(pair, hf):
    consoles, _new_key = pair
    statuses = _runs(consoles, 20)
    assert statuses.count(200) == 10 and statuses.count(429) == 10, statuses


def test_a_burst_of_20_runs_on_one_instance_admits_10(emulator, hf, tmp_path):
    console = Console(emulator, tmp_path, SETUP, _env(emulator, tmp_path), token=TOKEN).start()
    try:
        statuses = _runs([console], 20)
        assert statuses.count(200) == 10 and statuses.count(429) == 10, statuses
    finally:
        console.stop()
