"""The server `make run` starts (gunicorn, gevent workers, two processes) with the playground's process caches.

A change made in another process stops requests at once in every worker, and open streams hold no database
connection while they wait on the upstream.
"""

import json
import os
import threading
from pathlib import Path

import pytest
import requests

from tests.conftest import login_session
from tests.served import MIA_AND_PACED, Console, manage

WORKERS = 2


@pytest.fixture
def served(emulator, tmp_path):
    """(url, env, master process) of gunicorn with the project's config, two gevent workers."""
    console = Console(emulator, tmp_path, MIA_AND_PACED, {"WEB_WORKERS": str(WORKERS), "WEB_WORKER_CLASS": "gevent"})
    try:
        console.start()
        yield console.url, console.env, console.process
    finally:
        console.stop()


def shell(env, code):
    """Run `code` in a process of its own, as an admin's change made through another worker would be."""
    manage(env, "shell", "-c", code)


def run_on_new_connections(url, signed_in, count=8, **form):
    """Status codes of `count` whole-answer runs, each on a connection of its own (so both workers see some)."""
    statuses = []
    for _ in range(count):
        session = requests.Session()
        session.cookies.update(signed_in.cookies)
        session.headers.update(signed_in.headers)
        data = {"model": 1, "prompt": "go", "max_new_tokens": "3", **form}
        statuses.append(session.post(url + "/playground/run/", data=data, timeout=30).status_code)
        session.close()
    return statuses


def test_a_removed_permission_stops_runs_at_once_in_every_worker(hf, served):
    url, env, _process = served
    mia = login_session(url, "mia")
    assert run_on_new_connections(url, mia) == [200] * 8  # every worker has cached mia's permissions
    shell(env, "from django.contrib.auth.models import Group; Group.objects.get(name='Member').permissions.clear()")
    assert run_on_new_connections(url, mia) == [403] * 8


def test_a_disabled_model_stops_runs_at_once_in_every_worker(hf, served):
    url, env, _process = served
    mia = login_session(url, "mia")
    assert run_on_new_connections(url, mia) == [200] * 8  # every worker has cached the enabled models
    shell(env, "from providers.models import HFModel; m = HFModel.objects.get(pk=1); m.enabled = False; m.save()")
    assert run_on_new_connections(url, mia) == [400] * 8


def database_handles(master, database):
    """Open file descriptors on the database file in the server's worker processes."""
    workers = [int(p) for p in Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()]
    count = 0
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                count += os.readlink(fd) == database
            except OSError:
                pass
    return count


def test_open_streams_hold_no_database_connection(hf, served, tmp_path):
    url, _env, process = served
    hf.token_delay = 0.3
    mia = login_session(url, "mia")
    streams = 12
    started = threading.Barrier(streams + 1)
    finished = []

    def stream():
        session = requests.Session()
        session.cookies.update(mia.cookies)
        session.headers.update(mia.headers)
        data = {"model": 1, "prompt": "go", "max_new_tokens": "6", "stream": "on"}
        with session.post(url + "/playground/run/", data=data, stream=True, timeout=30) as response:
            lines = response.iter_lines()
            events = [json.loads(next(lines)), json.loads(next(lines))]  # start, first token
            started.wait()
            events += [json.loads(line) for line in lines]
        finished.append(events[-1]["type"])

    assert run_on_new_connections(url, mia) == [200] * 8  # warm: the pooled connections of a worker that served
    idle = database_handles(process, str(tmp_path / "served.sqlite3"))
    threads = [threading.Thread(target=stream) for _ in range(streams)]
    for thread in threads:
        thread.start()
    started.wait(timeout=20)  # every stream is open and waiting on its upstream
    held = database_handles(process, str(tmp_path / "served.sqlite3"))
    for thread in threads:
        thread.join(timeout=30)
    assert finished == ["done"] * streams
    # Not one per stream: per worker, a request between its queries, and the connection the worker keeps for the
    # API's statements (providers.core.db), made at its first request (which the warm-up may not have sent it).
    assert held - idle <= 2 * WORKERS, (idle, held)
