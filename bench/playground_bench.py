"""Playground performance, with the console served by gunicorn as `make run` serves it.

The upstream is the test suite's Hugging Face emulator on loopback, answering with a fixed latency and
emitting tokens at a fixed pace. Three measurements, printed, never asserted:

1. overhead: the same non-streaming request sent directly to the upstream and through the playground,
   interleaved; median and p99 of each and of the difference, ratio of medians, X-Console-Overhead-Ms.
   For scale, the same request also goes through bench/floor_wsgi.py, a bare proxy (no Django) on the same
   gunicorn configuration: what the server hop and the HTTP client cost before the console does anything.
2. streaming pass-through: for every token, the time from the upstream writing it to the client reading it
   through the console (both clocks are this machine's CLOCK_MONOTONIC); and how often tokens arrived batched.
3. concurrency: 64 simultaneous streams; completed/failed, p99 time to first token, console peak memory.

Run: .venv/bin/python bench/playground_bench.py [--requests 300] [--streams 64] [--latency-ms 20]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hf_emulator import Emulator  # noqa: E402

PASSWORD = "bench-password-123456"
SETUP = """
from django.contrib.auth.models import User
from providers import roles
from providers.models import HFModel
user = User.objects.create_user("bench", "b@example.com", "{password}")
roles.set_role(user, roles.MEMBER)
HFModel.objects.create(display_name="tgi", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{base}/ep/tgi")
HFModel.objects.create(display_name="tgi-far", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{far}/ep/tgi")
"""
# The concurrency run uses an upstream in a process of its own, so that 64 client threads and 64 upstream
# streams do not share one interpreter lock and slow each other down.
FAR_UPSTREAM = """
import sys, time
sys.path.insert(0, {root!r})
from tests.hf_emulator import Emulator
emu = Emulator().start()
emu.add_endpoint("tgi")
emu.token_delay = {pace}
print(emu.base, flush=True)
time.sleep(3600)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(name, values):
    return f"{name:<28} median {statistics.median(values):8.2f} ms   p99 {percentile(values, 99):8.2f} ms"


def serve(app, env, ready_path):
    """gunicorn with the project's config (config/gunicorn.py) serving `app`; returns once it answers."""
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "--config", "config/gunicorn.py", app],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{env['PORT']}"
    for _ in range(100):
        try:
            requests.get(url + ready_path, timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    return process, url


def stop(process):
    process.terminate()
    process.wait(timeout=30)


class Console:
    """A console instance of its own: temporary data folder, gunicorn with the project's config."""

    def __init__(self, upstream_base, far_base):
        self.tmp = tempfile.mkdtemp(prefix="console-bench-")
        self.port = free_port()
        python = str(ROOT / ".venv" / "bin" / "python")
        from providers.crypto import generate_key

        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "bench-secret-key-" + "x" * 40,
            "ENCRYPTION_KEYS": generate_key("bench"),
            "DATA_DIR": self.tmp,
            "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{self.tmp}/console.sqlite3"),
            "OUTBOUND_ALLOW_HTTP": "true",
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
            "PLAYGROUND_RUNS_PER_MINUTE": "0",
            "PORT": str(self.port),
            "LOG_LEVEL": "WARNING",
        }
        run = dict(cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([python, "manage.py", "migrate", "--noinput"], **run)
        subprocess.run([python, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"], **run)
        subprocess.run(
            [python, "manage.py", "shell", "-c", SETUP.format(password=PASSWORD, base=upstream_base, far=far_base)],
            **run,
        )
        self.process, self.url = serve("config.wsgi", self.env, "/healthz")
        self.model_id = 1

    def session(self):
        s = requests.Session()
        s.get(self.url + "/accounts/login/")
        s.post(
            self.url + "/accounts/login/",
            data={"username": "bench", "password": PASSWORD, "csrfmiddlewaretoken": s.cookies["csrftoken"]},
        )
        s.headers["X-CSRFToken"] = s.cookies["csrftoken"]
        return s

    def memory_kib(self):
        """Resident memory of the gunicorn master and its workers."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total = 0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total

    def stop(self):
        stop(self.process)


class FloorProxy:
    """bench/floor_wsgi.py under gunicorn with the console's configuration, forwarding to `upstream`."""

    def __init__(self, upstream):
        env = {
            **os.environ,
            "FLOOR_UPSTREAM": upstream,
            "PORT": str(free_port()),
            "SECRET_KEY": "bench-floor-" + "x" * 40,  # config/gunicorn.py reads the server settings from Django
        }
        self.process, self.url = serve("bench.floor_wsgi", env, "/")

    def stop(self):
        stop(self.process)


def bench_overhead(console, emu, count, tokens):
    session = console.session()
    direct = requests.Session()
    floor = FloorProxy(emu.base + "/ep/tgi")
    body = {"inputs": "Why is the sky blue", "parameters": {"max_new_tokens": tokens, "details": True}}
    form = {"model": console.model_id, "prompt": "Why is the sky blue", "max_new_tokens": str(tokens)}
    direct_ms, console_ms, floor_ms, reported = [], [], [], []
    for i in range(count + 20):
        started = time.perf_counter()
        r = direct.post(emu.base + "/ep/tgi", json=body, timeout=30)
        r.raise_for_status()
        d = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        r = direct.post(floor.url, json=body, timeout=30)
        r.raise_for_status()
        f = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        r = session.post(console.url + "/playground/run/", data=form, timeout=30)
        r.raise_for_status()
        c = (time.perf_counter() - started) * 1000
        if "done" not in r.text:
            raise SystemExit(f"console run failed: {r.text[:300]}")
        if i >= 20:  # warm-up excluded
            direct_ms.append(d)
            console_ms.append(c)
            floor_ms.append(f)
            reported.append(float(r.headers["X-Console-Overhead-Ms"]))
    floor.stop()
    diffs = [c - d for c, d in zip(console_ms, direct_ms, strict=True)]
    print(
        f"\n1. overhead, non-streaming, {count} interleaved pairs, upstream latency {emu.response_delay * 1000:.0f} ms"
    )
    print(summary("direct to upstream", direct_ms))
    print(summary("through the playground", console_ms))
    print(summary("difference (paired)", diffs))
    print(summary("X-Console-Overhead-Ms", reported))
    print(f"{'ratio of medians':<28} {statistics.median(console_ms) / statistics.median(direct_ms):.3f}")
    floor_diffs = [f - d for f, d in zip(floor_ms, direct_ms, strict=True)]
    print("   for scale, a bare proxy (bench/floor_wsgi.py: no Django) on the same gunicorn configuration:")
    print(summary("through the bare proxy", floor_ms))
    print(summary("its difference (paired)", floor_diffs))
    print(f"{'its ratio of medians':<28} {statistics.median(floor_ms) / statistics.median(direct_ms):.3f}")


def bench_streaming(console, emu, runs, tokens):
    session = console.session()
    delays, batched, total_tokens = [], 0, 0
    form = {"model": console.model_id, "prompt": "go", "max_new_tokens": str(tokens), "stream": "on"}
    for _ in range(runs):
        emu.emit_times.clear()
        arrivals = []
        with session.post(console.url + "/playground/run/", data=form, stream=True, timeout=60) as r:
            buffer = b""
            for chunk in r.iter_content(chunk_size=None):
                now = time.monotonic()
                buffer += chunk
                lines = buffer.split(b"\n")
                buffer = lines.pop()
                got = [json.loads(line) for line in lines if line.strip()]
                token_lines = [e for e in got if e["type"] == "token"]
                batched += max(0, len(token_lines) - 1)
                arrivals += [now] * len(token_lines)
        emitted = list(emu.emit_times)
        if len(emitted) != len(arrivals):
            raise SystemExit(f"expected {len(emitted)} tokens, got {len(arrivals)}")
        delays += [(a - e) * 1000 for a, e in zip(arrivals, emitted, strict=True)]
        total_tokens += len(arrivals)
    print(f"\n2. streaming pass-through, {runs} streams x {tokens} tokens at {emu.token_delay * 1000:.0f} ms pace")
    print(summary("upstream write -> client read", delays))
    print(f"{'first tokens only':<28} median {statistics.median(delays[::tokens]):8.2f} ms")
    print(f"{'tokens that arrived batched':<28} {batched} of {total_tokens}")


def bench_concurrency(console, streams, tokens, pace_ms):
    results = []
    lock = threading.Lock()
    peak = [console.memory_kib()]
    stop = threading.Event()
    template = console.session()  # one log-in, its cookie shared: log-in hashing is not what is measured here
    barrier = threading.Barrier(streams)

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], console.memory_kib())
            time.sleep(0.05)

    def one():
        session = requests.Session()
        session.cookies.update(template.cookies)
        session.headers.update(template.headers)
        form = {"model": 2, "prompt": "go", "max_new_tokens": str(tokens), "stream": "on"}
        barrier.wait()
        started = time.monotonic()
        ttft, ok = None, False
        try:
            with session.post(console.url + "/playground/run/", data=form, stream=True, timeout=120) as r:
                for line in r.iter_lines():
                    event = json.loads(line)
                    if event["type"] == "token" and ttft is None:
                        ttft = (time.monotonic() - started) * 1000
                    ok = event["type"] == "done"
        except requests.RequestException:
            ok = False
        with lock:
            results.append((ok, ttft, (time.monotonic() - started) * 1000))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=one) for _ in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    sampler.join()
    completed = sum(1 for ok, _, _ in results if ok)
    ttfts = [t for ok, t, _ in results if ok and t is not None]
    totals = [d for ok, _, d in results if ok]
    print(
        f"\n3. concurrency: {streams} simultaneous streams x {tokens} tokens at {pace_ms:.0f} ms pace "
        f"(ideal stream time {tokens * pace_ms / 1000:.2f} s)"
    )
    print(f"{'completed / failed':<28} {completed} / {streams - completed}")
    if ttfts:
        print(summary("time to first token", ttfts))
        print(summary("whole stream", totals))
    print(f"{'console peak memory (RSS)':<28} {peak[0] / 1024:.1f} MiB (gunicorn master + workers)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--stream-runs", type=int, default=20)
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--pace-ms", type=float, default=20)
    args = parser.parse_args()

    emu = Emulator().start()
    emu.add_endpoint("tgi")
    far = subprocess.Popen(
        [sys.executable, "-c", FAR_UPSTREAM.format(root=str(ROOT), pace=args.pace_ms / 1000)],
        stdout=subprocess.PIPE,
        text=True,
    )
    far_base = far.stdout.readline().strip()
    console = Console(emu.base, far_base)
    try:
        print(f"console: gunicorn {console.url}, config/gunicorn.py; upstream emulators {emu.base}, {far_base}")
        emu.response_delay = args.latency_ms / 1000
        bench_overhead(console, emu, args.requests, tokens=8)
        emu.response_delay = 0
        emu.token_delay = args.pace_ms / 1000
        bench_streaming(console, emu, args.stream_runs, tokens=20)
        bench_concurrency(console, args.streams, tokens=50, pace_ms=args.pace_ms)
    finally:
        console.stop()
        emu.stop()
        far.terminate()


if __name__ == "__main__":
    main()
