"""The production server that `make run` starts (gunicorn with config/gunicorn.py) relays tokens unbuffered.

Gunicorn runs as its own process on a database of its own, as it would in production.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import PASSWORD, login_session

ROOT = Path(__file__).resolve().parent.parent
SETUP = """
from providers import roles
from providers.models import HFModel
from django.contrib.auth.models import User
user = User.objects.create_user("mia", "m@example.com", "{password}")
roles.set_role(user, roles.MEMBER)
HFModel.objects.create(display_name="paced", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{base}/ep/tgi")
"""


@pytest.fixture
def gunicorn(emulator, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path}/served.sqlite3",
        "OUTBOUND_ALLOW_HTTP": "true",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
        "WEB_WORKERS": "1",
        "WEB_THREADS": "4",
    }
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], **run)
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SETUP.format(password=PASSWORD, base=emulator.base)], **run
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "config.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url + "/healthz", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=20)


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
