"""Runs survive a real gunicorn killed, stopped and restarted with streams in flight.

Runs survive the server: a real gunicorn (config/gunicorn.py and its hooks) killed, stopped and restarted with
streams in flight, under threads and under gevent. Every run ends in a final state holding the streamed text.
"""

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import login_session, wait_for
from tests.fault_upstream import FaultUpstream
from tests.hf_emulator import WORDS
from tests.served import MIA_AND_PACED, Console

SETUP = (
    MIA_AND_PACED
    + """HFModel.objects.create(display_name="silent", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{faulty}/silent_start")
"""
)
FINAL = ("ok", "failed", "stopped", "interrupted")
EMITTED = "".join((" " if i else "") + WORDS[i % len(WORDS)] for i in range(200))  # what the emulator streams


class Served(Console):
    """A gunicorn of its own on a SQLite file, restartable on the same database, under `worker_class`."""

    def __init__(self, emulator, faulty, tmp_path, worker_class):
        env = {"WEB_WORKERS": "1", "WEB_THREADS": "8", "RUN_CHECKPOINT_SECONDS": "0.3"}
        super().__init__(emulator, tmp_path, SETUP, env, faulty=faulty.base)
        self.worker_class = worker_class

    def start(self):
        return super().start("-k", self.worker_class, "--graceful-timeout", "10", own_group=True)

    def workers(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def kill_all(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def rows(self):
        with sqlite3.connect(self.db) as db:
            query = "SELECT status, output, error_category FROM providers_playgroundrun ORDER BY id"
            return db.execute(query).fetchall()


class Stream:
    """One streamed run read in a thread: its text so far, and its last line."""

    def __init__(self, served, session):
        self.text = ""
        self.last = None
        self.tokens = 0
        self.broken = False
        self.response = session.post(
            served.url + "/playground/run/",
            stream=True,
            timeout=30,
            data={"model": 1, "prompt": "go", "max_new_tokens": "200", "stream": "on"},
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for raw in self.response.iter_lines(chunk_size=1):
                event = json.loads(raw)
                if event["type"] == "token":
                    self.text += event["text"]
                    self.tokens += 1
                self.last = event
        except (requests.RequestException, ValueError):
            self.broken = True


@pytest.fixture(scope="module")
def faulty():
    server = FaultUpstream().start()
    yield server
    server.stop()


@pytest.fixture(params=["gthread", "gevent"])
def served(request, emulator, faulty, tmp_path):
    server = Served(emulator, faulty, tmp_path, request.param)
    yield server
    server.stop()


def streams_in_flight(hf, served, count, tokens=5):
    hf.token_delay = 0.1
    session = login_session(served.url, "mia")
    streams = [Stream(served, session) for _ in range(count)]
    assert wait_for(lambda: all(s.tokens >= tokens for s in streams), 10)
    return streams


def test_a_killed_worker_leaves_no_run_running(hf, served):
    served.start()
    (stream,) = streams_in_flight(hf, served, 1)
    seen = stream.text
    time.sleep(0.8)  # at least two checkpoints since
    (worker,) = served.workers()
    os.kill(worker, signal.SIGKILL)
    assert wait_for(lambda: served.rows()[0][0] != "running", 10), served.rows()
    status, output, category = served.rows()[0]
    assert (status, category) == ("interrupted", "run_interrupted")
    assert output.startswith(seen) and EMITTED.startswith(output)
    assert wait_for(lambda: stream.broken or stream.last is not None, 10)


def test_a_graceful_restart_ends_streams_cleanly(hf, served):
    served.start()
    streams = streams_in_flight(hf, served, 3)
    served.process.send_signal(signal.SIGTERM)  # graceful stop, as a restart begins
    assert wait_for(lambda: all(s.last and s.last["type"] == "error" for s in streams), 5)
    for s in streams:
        assert s.last["error"]["category"] == "run_interrupted" and not s.broken
    served.process.wait(timeout=15)
    served.start()
    rows = served.rows()
    assert [r[0] for r in rows] == ["interrupted"] * 3  # final before the server stopped
    assert sorted(r[1] for r in rows) == sorted(s.text for s in streams)  # exactly what each browser saw


def test_a_crashed_server_restarted_marks_runs_in_flight_interrupted(hf, served):
    served.start()
    streams = streams_in_flight(hf, served, 3)
    seen = [s.text for s in streams]
    time.sleep(0.8)  # at least two checkpoints since
    served.kill_all()  # master and worker at once: nobody is left to notice
    assert [r[0] for r in served.rows()] == ["running"] * 3
    served.start()
    assert wait_for(lambda: all(r[0] in FINAL for r in served.rows()), 5)  # the new master's start-up sweep
    rows = served.rows()
    assert [r[0] for r in rows] == ["interrupted"] * 3
    for (_status, output, _category), before in zip(rows, seen, strict=True):
        assert output.startswith(before) and EMITTED.startswith(output)


def test_a_closed_tab_frees_a_silent_upstream(hf, served, faulty):
    faulty.reset()
    served.start()
    response = login_session(served.url, "mia").post(
        served.url + "/playground/run/", stream=True, timeout=30, data={"model": 2, "prompt": "go", "stream": "on"}
    )
    lines = response.iter_lines(chunk_size=1)
    assert [json.loads(next(lines))["type"] for _ in range(2)] == ["start", "wait"]
    response.close()
    closed_at = time.monotonic()
    assert wait_for(lambda: faulty.closed("silent_start"), 5)
    assert faulty.closed("silent_start")[0] - closed_at < 3.5
    assert wait_for(lambda: served.rows()[0][0] == "stopped", 3), served.rows()
