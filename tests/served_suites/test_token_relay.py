"""The production server that `make run` starts (gunicorn with config/gunicorn.py) relays tokens unbuffered.

Gunicorn runs as its own process on a database of its own, as it would in production.
"""

import json
import time

import pytest

from tests.conftest import login_session
from tests.served import MIA_AND_PACED, Console


@pytest.fixture
def gunicorn(emulator, tmp_path):
    console = Console(emulator, tmp_path, MIA_AND_PACED, {"WEB_WORKERS": "1", "WEB_THREADS": "4"})
    try:
        yield console.start().url
    finally:
        console.stop()


def test_gunicorn_relays_each_token_as_it_arrives(hf, gunicorn):
    hf.token_delay = 0.15
    session = login_session(gunicorn, "mia")
    response = session.post(
        gunicorn + "/playground/run/",
        stream=True,
        timeout=30,
        allow_redirects=False,
        data={"model": 1, "prompt": "go", "max_new_tokens": "5", "stream": "on"},
    )
    assert response.status_code == 200
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert "Content-Encoding" not in response.headers
    lag = []
    for line in response.iter_lines(chunk_size=1):
        if json.loads(line)["type"] == "token":
            lag.append(time.monotonic() - hf.emit_times[len(lag)])
    assert len(lag) == 5
    assert max(lag) < 0.1, lag  # each token reaches the client well before the next one is written
