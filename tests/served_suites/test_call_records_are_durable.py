"""API call records are as durable as runs: calls in flight when their server is killed (kill -9, master and workers
at once) are recorded as interrupted with the tokens they had sent once the console restarts, and a call that ends
while PostgreSQL is down is recorded once it is back."""

import os
import signal
import sqlite3
import threading
import time

import requests

from tests.conftest import wait_for
from tests.served import MIA_AND_PACED, Console
from tests.stores import Postgres

NEW_KEY = """
from django.contrib.auth.models import User
from providers.api import keys
print(keys.create(User.objects.get(username="mia"), "crash")[1])
"""


class Stream:
    """One /v1/completions stream read in a thread, counting the tokens it received."""

    def __init__(self, console, key):
        self.tokens = 0
        self.response = requests.post(
            console.url + "/v1/completions",
            json={"model": "paced", "prompt": "go", "max_tokens": 200, "stream": True},
            headers={"Authorization": f"Bearer {key}"},
            stream=True,
            timeout=30,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for raw in self.response.iter_lines(chunk_size=1):
                if raw.startswith(b'data: {"id"'):
                    self.tokens += 1
        except requests.RequestException:
            pass


def _calls(console):
    with sqlite3.connect(console.db) as db:
        query = "SELECT stream, status, category, completion_tokens, worker FROM providers_apicall ORDER BY id"
        return db.execute(query).fetchall()


def test_api_calls_in_flight_when_the_server_is_killed_are_recorded_as_interrupted(hf, tmp_path):
    hf.token_delay = 0.1  # 200 tokens: 20 s
    env = {"WEB_WORKERS": "1", "RUN_CHECKPOINT_SECONDS": "0.3"}
    console = Console(hf, tmp_path, MIA_AND_PACED, env=env)
    key = console.manage("shell", "-c", NEW_KEY).split()[-1]
    console.start(own_group=True)
    try:
        streams = [Stream(console, key) for _ in range(3)]
        assert wait_for(lambda: all(s.tokens >= 5 for s in streams), 10)
        time.sleep(0.8)  # at least two checkpoints since
        seen = [s.tokens for s in streams]
        os.killpg(console.process.pid, signal.SIGKILL)  # master and worker at once: nobody is left to notice
        console.process.wait(timeout=10)

        console.start()  # the new master's start-up sweep
        swept = wait_for(lambda: len(_calls(console)) == 3 and all(not c[4] for c in _calls(console)), 5)
        assert swept, _calls(console)
        calls = _calls(console)
        assert [c[:3] for c in calls] == [(1, 200, "run_interrupted")] * 3
        assert all(5 <= c[3] <= 200 for c in calls)  # the tokens each had sent, as of its last checkpoint
        assert sum(c[3] for c in calls) >= sum(seen) - 3 * 4  # within a checkpoint of what the callers saw
    finally:
        console.stop()


CALLS = """
from providers.models import APICall
print(list(APICall.objects.values_list("stream", "status", "category", "completion_tokens", "worker")))
"""


def test_a_call_that_ends_while_postgresql_is_down_is_recorded_once_it_returns(hf, tmp_path):
    hf.token_delay = 0.05  # 40 tokens: 2 s
    postgres = Postgres()
    console = None
    try:
        env = {"DATABASE_URL": postgres.url, "WEB_WORKERS": "1", "RUN_CHECKPOINT_SECONDS": "0.3"}
        console = Console(hf, tmp_path, MIA_AND_PACED, env=env)
        key = console.manage("shell", "-c", NEW_KEY).split()[-1]
        console.start()
        response = requests.post(
            console.url + "/v1/completions",
            json={"model": "paced", "prompt": "go", "max_tokens": 40, "stream": True},
            headers={"Authorization": f"Bearer {key}"},
            stream=True,
            timeout=30,
        )
        lines = response.iter_lines()
        next(lines)
        postgres.stop()  # before the call ends: its record cannot be written then
        assert [line for line in lines if line][-1] == b"data: [DONE]"
        time.sleep(1)  # the first attempts fail
        postgres.start()
        expected = "[(True, 200, '', 40, '')]"
        assert wait_for(lambda: console.manage("shell", "-c", CALLS).strip().endswith(expected), 10)
    finally:
        if console:
            console.stop()
        postgres.remove()
