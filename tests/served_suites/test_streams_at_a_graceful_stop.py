"""A served console told to stop (SIGTERM, as a restart begins) with an API stream longer than its graceful timeout:
the stream ends in time with an OpenAI-shaped error event and `data: [DONE]`, and the call is recorded."""

import json
import signal
import sqlite3
import time

import requests

from tests.served import MIA_AND_PACED, Console

NEW_KEY = """
from django.contrib.auth.models import User
from providers.api import keys
print(keys.create(User.objects.get(username="mia"), "restart")[1])
"""
GRACE = 6  # seconds: WEB_GRACEFUL_TIMEOUT of the console under test


def test_an_api_stream_cut_by_a_graceful_stop_ends_with_an_error_event_and_done_and_is_recorded(hf, tmp_path):
    hf.token_delay = 0.2  # 200 tokens: 40 s, far longer than the graceful timeout
    console = Console(hf, tmp_path, MIA_AND_PACED, env={"WEB_WORKERS": "1", "WEB_GRACEFUL_TIMEOUT": str(GRACE)})
    key = console.manage("shell", "-c", NEW_KEY).split()[-1]
    console.start()
    try:
        response = requests.post(
            console.url + "/v1/completions",
            json={"model": "paced", "prompt": "go", "max_tokens": 200, "stream": True},
            headers={"Authorization": f"Bearer {key}"},
            stream=True,
            timeout=30,
        )
        lines = response.iter_lines(chunk_size=1)
        events = []
        for raw in lines:  # a few tokens before the stop
            if raw.startswith(b"data: {"):
                events.append(json.loads(raw[6:]))
            if len(events) == 3:
                break
        console.process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        tail = []
        try:
            tail = [raw for raw in lines if raw.startswith(b"data: ")]
        except requests.RequestException:
            pass  # cut: the assertions below say what was missing
        ended = time.monotonic() - stopped
        assert tail and tail[-1] == b"data: [DONE]", tail[-3:]
        error = json.loads(tail[-2][6:])["error"]
        assert error["type"] == "service_unavailable" and error["code"] == "run_interrupted", error
        assert error["message"] and ended < GRACE
        console.process.wait(timeout=GRACE + 10)
        with sqlite3.connect(console.db) as db:
            calls = db.execute("SELECT route, stream, status, category FROM providers_apicall").fetchall()
        assert calls == [("completions", 1, 200, "run_interrupted")]
    finally:
        console.stop()
