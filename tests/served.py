"""The console served as in production: gunicorn with config/gunicorn.py as a process of its own, on a SQLite file
of its own, set up by `manage.py migrate` and a `manage.py shell` script, pointed at the emulator."""

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import PASSWORD, free_port

ROOT = Path(__file__).resolve().parent.parent
MIA_AND_PACED = """
from providers.core import roles
from providers.models import HFModel
from django.contrib.auth.models import User
user = User.objects.create_user("mia", "m@example.com", "{password}")
roles.set_role(user, roles.MEMBER)
HFModel.objects.create(display_name="paced", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{base}/ep/tgi")
"""


# How a console is set up and served, here as in compose.yaml (tests/served_suites/test_compose_example.py).
MIGRATE = ("migrate", "--noinput")
GUNICORN = ("gunicorn", "--config", "config/gunicorn.py")
WSGI_APP = "config.wsgi"


def instance_env(database_url, cache_url, data_dir):
    """What one of several instances is given: the database and the cache shared by all, a data folder its own."""
    return {"DATABASE_URL": database_url, "CACHE_URL": cache_url, "DATA_DIR": str(data_dir)}


def manage(env, *args):
    """Standard output of `manage.py *args` run in a process of its own, as another worker's change would be."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def python(script, data_dir, timeout=60, **env):
    """`script` run by this Python in a process of its own, on the console's settings with `data_dir` (and `env`)
    only: what a fresh process (gunicorn's master, a worker) starts from. Its CompletedProcess, output as text."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "test-secret-key-" + "x" * 40,
        "DATA_DIR": str(data_dir),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def wait_until_up(url, tries=150):
    """Wait until the server at `url` answers its health check; a server that never does fails the test."""
    for _ in range(tries):
        try:
            requests.get(url + "/healthz", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not start")


class Console:
    """A gunicorn of its own on `folder`/served.sqlite3, restartable on the same database.

    `setup` is a `manage.py shell` script, formatted with the test password, the emulator's base URL and `fields`;
    `env` adds to (or overrides) the environment, e.g. WEB_WORKERS, WEB_WORKER_CLASS, WEB_THREADS.
    """

    def __init__(self, emulator, folder, setup, env=None, **fields):
        port = free_port()
        self.db = folder / "served.sqlite3"
        self.log = folder / "gunicorn.log"  # read it when a test that serves fails
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PORT": str(port),
            "DATABASE_URL": f"sqlite:///{self.db}",
            "OUTBOUND_ALLOW_HTTP": "true",
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
            **(env or {}),
        }
        self.process = None
        self.manage(*MIGRATE)
        self.manage("shell", "-c", setup.format(password=PASSWORD, base=emulator.base, **fields))

    def manage(self, *args):
        return manage(self.env, *args)

    def start(self, *args, own_group=False):
        """Start gunicorn with extra command-line `args`; `own_group` puts it in a process group of its own (so
        that a test can kill master and workers at once)."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *GUNICORN, *args, WSGI_APP],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=own_group,
            )
        try:
            wait_until_up(self.url)
        except AssertionError:
            self.stop()
            raise
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
