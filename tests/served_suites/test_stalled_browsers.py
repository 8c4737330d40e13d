"""Playground streams whose browsers read nothing: each holds back its upstream past a bounded buffer, the workers'
memory stays flat, and each run records that its answer came complete although the browser did not take it all."""

import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import login_session, wait_for
from tests.fault_upstream import FaultUpstream
from tests.served import MIA_AND_PACED, Console

STREAMS = 300
STALL = 15  # seconds the browsers read nothing: longer than the generation's deadline below
SETUP = (
    MIA_AND_PACED
    + """HFModel.objects.create(display_name="long", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{faulty}/long")
"""
)
FIELDS = {"model": "2", "prompt": "go", "max_new_tokens": "250", "stream": "on"}
BODY = "&".join(f"{k}={v}" for k, v in FIELDS.items()).encode()


def _rss_kb(pid):
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    return 0


def _workers(master):
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def _unsent_bytes(port):
    """Bytes the console's sockets on `port` hold for their browsers (each connection's Send-Q, whatever its
    state: a response written whole into the kernel leaves its socket closing with the bytes still queued)."""
    rows = subprocess.run(["ss", "-tnH", "sport", "=", f":{port}"], capture_output=True, text=True).stdout
    return [int(row.split()[2]) for row in rows.splitlines() if not row.startswith("LISTEN")]


def _stalled_post(url, session):
    """A streamed run's POST whose answer is then never read."""
    parts = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    cookies = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    head = (
        f"POST /playground/run/ HTTP/1.1\r\nHost: {parts.netloc}\r\nCookie: {cookies}\r\n"
        f"X-CSRFToken: {session.cookies['csrftoken']}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    )
    sock.sendall(head.encode() + BODY)
    return sock


def _runs(db):
    with sqlite3.connect(db) as conn:
        query = "SELECT status, length(output), browser_stopped_reading FROM providers_playgroundrun ORDER BY id"
        return conn.execute(query).fetchall()


def test_stalled_browsers_hold_back_their_upstreams_and_their_runs_stay_complete(emulator, tmp_path):
    faulty = FaultUpstream(pace=0).start()
    env = {"WEB_WORKERS": "2", "PLAYGROUND_RUNS_PER_MINUTE": "0", "HF_GENERATION_TIMEOUT": "10"}
    console = Console(emulator, tmp_path, SETUP, env=env, faulty=faulty.base).start()
    sockets = []
    try:
        session = login_session(console.url, "mia")
        workers = _workers(console.process.pid)
        assert session.post(console.url + "/playground/run/", data=FIELDS).status_code == 200  # warm
        time.sleep(1)
        before = sum(_rss_kb(pid) for pid in workers)
        sockets = [_stalled_post(console.url, session) for _ in range(STREAMS)]
        time.sleep(STALL)
        during = sum(_rss_kb(pid) for pid in workers)
        unsent = _unsent_bytes(urlsplit(console.url).port)
        for sock in sockets:
            sock.close()
        assert wait_for(lambda: all(r[0] != "running" for r in _runs(console.db)), 20)
        after = sum(_rss_kb(pid) for pid in workers)
        runs = _runs(console.db)[1:]
        print(
            f"RSS {before} -> {during} -> {after} kB ({(during - before) / STREAMS:.0f} kB a stream); "
            f"unsent at most {max(unsent)} bytes a stream"
        )
        assert len(runs) == STREAMS
        assert (during - before) / STREAMS < 600  # kB: the relay's buffers, not the answer
        assert max(unsent) <= 160 * 1024  # the kernel holds a bounded part of each answer, not all of it
        # Each answer came complete in time; each browser took only part of it, and the run says both.
        assert set(runs) == {("ok", 250 * 1020, 1)}, sorted(set(runs))[:5]
    finally:
        for sock in sockets:
            sock.close()
        console.stop()
        faulty.stop()
