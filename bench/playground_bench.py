"""Playground performance, side by side: the direct call, a bare proxy, the console and LiteLLM's proxy.

Every target answers through the same loopback upstream, in a process of its own (bench/pace_upstream.py, a lean
server speaking TGI's wire format; --upstream emulator uses the test suite's emulator): whole answers after a
fixed latency, streams of tokens at a fixed pace. The measurements run
interleaved (one request per target in turn), so a busy machine slows every column alike. Numbers are printed,
never asserted:

- whole answer, added median: the paired difference to the direct call, request by request;
- first token added (one stream): the same for the time to the first token of a streamed answer;
- N streams at once (64, then 1,000): wall time, TTFT p99, failures, peak RSS of the whole server (every process);
- server CPU per 1,000 relayed tokens (user + system time of the server's processes over the 64-stream rounds);
- embeddings (direct, floor, the console's /v1/): a batch of 64 short texts to /v1/embeddings, answered with
  384-dimension vectors; added median against the direct call, paired, and the server's CPU per call.

Targets are a list (`TARGETS`; `api` is the console's /v1/ routes with a personal key): a new one is a class
with `answer`, `stream_request`, `stream_spec` (for bench/swarm.py, the greenlet client of the N-stream rows),
`close` and `pids`, and a name on the command line.

Run: .venv/bin/python bench/playground_bench.py [--targets direct,floor,console,api,litellm] [--streams 64,1000]
     The embeddings line alone: --targets direct,floor,api --requests 0 --first-tokens 0 --streams "" --embeddings 60
     LiteLLM runs from its own virtualenv (--litellm /work/litellm-venv/bin/litellm), never from the project's.
     --server-env WEB_WORKER_CLASS=gthread --server-env WEB_THREADS=512 serves console and floor another way.
     A change against the code before it: git worktree add ../before <rev>; ln -s $PWD/.venv ../before/.venv;
     --before ../before --targets direct,floor,api,api-before,api-chat,api-chat-before
"""

import argparse
import json
import os
import random
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

PASSWORD = "bench-password-123456"
SETUP = """
from django.contrib.auth.models import User
from providers.core import roles
from providers.models import HFModel
user = User.objects.create_user("bench", "b@example.com", "{password}")
roles.set_role(user, roles.MEMBER)
HFModel.objects.create(display_name="answer", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{answer}")
HFModel.objects.create(display_name="stream", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{stream}")
HFModel.objects.create(display_name="answer embed", endpoint_type="inference_endpoint", task="feature-extraction",
                       endpoint_url="{answer}", engine="vllm", served_model="bench")
for name, url in (("answer chat", "{answer}"), ("stream chat", "{stream}")):  # an OpenAI-compatible server: relayed
    HFModel.objects.create(display_name=name, endpoint_type="inference_endpoint", task="chat", endpoint_url=url,
                           engine="vllm", served_model="bench")
"""
# The upstream runs in a process of its own so that the bench's client threads and the upstream's streams do
# not share one interpreter lock. Two emulators: one answers whole after a latency, one streams at a pace.
# Its threads are greenlets (gevent), and its listen backlog is raised so that 1,000 simultaneous connections
# are not dropped and retried.
UPSTREAM = """
from gevent import monkey
monkey.patch_all()
import sys, time
sys.path.insert(0, {root})
from tests import hf_emulator
hf_emulator._Server.request_queue_size = 4096
answer = hf_emulator.Emulator().start()
answer.add_endpoint("tgi")
answer.response_delay = {latency}
stream = hf_emulator.Emulator().start()
stream.add_endpoint("tgi")
stream.token_delay = {pace}
for emu in (answer, stream):
    emu.requests = type("NoLog", (list,), {{"append": lambda self, item: None}})()
    emu.emit_times = type("NoLog", (list,), {{"append": lambda self, item: None}})()
print(answer.base + "/ep/tgi", stream.base + "/ep/tgi", flush=True)
time.sleep(24 * 3600)
"""
LITELLM_CONFIG = """
model_list:
  - model_name: answer
    litellm_params:
      model: huggingface/tgi
      api_base: {answer}
  - model_name: stream
    litellm_params:
      model: huggingface/tgi
      api_base: {stream}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def process_tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            children = task / "children"
            if children.exists():
                todo += [int(c) for c in children.read_text().split()]
    return pids


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            for row in Path(f"/proc/{pid}/status").read_text().splitlines():
                if row.startswith("VmRSS:"):
                    total += int(row.split()[1])
        except FileNotFoundError:
            pass
    return total


def cpu_seconds(pids):
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except FileNotFoundError:
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_ready(url, process, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server for {url} exited with {process.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def gunicorn(app, env, config="config/gunicorn.py", root=ROOT):
    """gunicorn with the config of the checkout at `root` (config/gunicorn.py) serving `app`."""
    process = subprocess.Popen(
        [str(root / ".venv" / "bin" / "gunicorn"), "--config", config, app],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{env['PORT']}"


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


class Target:
    """One column of the table. `answer` and `stream` return (ok, ttft_ms, total_ms) for one request."""

    name = ""
    process = None
    token_marker = b"data:"
    end_marker = b""

    def session(self):
        return requests.Session()

    def answer(self, session):
        raise NotImplementedError

    # (session, encoding) -> (ok, None, total_ms): one /v1/embeddings call of EMBED_TEXTS, where the target has it
    embed = None

    def stream_request(self, session, tokens):
        raise NotImplementedError

    def stream(self, session, tokens):
        started = time.perf_counter()
        ttft, tail = None, b""
        try:
            with self.stream_request(session, tokens) as r:
                if r.status_code != 200:
                    return False, None, 0
                for chunk in r.iter_content(chunk_size=None):
                    if ttft is None and self.token_marker in chunk:
                        ttft = (time.perf_counter() - started) * 1000
                    tail = (tail + chunk)[-400:]
        except requests.RequestException:
            return False, ttft, (time.perf_counter() - started) * 1000
        return self.end_marker in tail, ttft, (time.perf_counter() - started) * 1000

    def pids(self):
        return process_tree(self.process.pid) if self.process else []

    def close(self):
        if self.process:
            stop(self.process)


EMBED_TEXTS = [f"short text number {i} about the sky" for i in range(64)]
EMBED_BODY = {"model": "bench", "input": EMBED_TEXTS, "encoding_format": "float"}


def post_embeddings(session, url, model, encoding):
    started = time.perf_counter()
    r = session.post(url, json={**EMBED_BODY, "model": model, "encoding_format": encoding}, timeout=60)
    ok = r.status_code == 200 and len(r.json()["data"]) == len(EMBED_TEXTS)
    return ok, None, (time.perf_counter() - started) * 1000


def tgi_body(tokens, stream):
    return {
        "inputs": "Why is the sky blue",
        "parameters": {"max_new_tokens": tokens, "details": True},
        "stream": stream,
    }


class Direct(Target):
    name = "direct call"
    # TGI's last event ends with its details, after the whole text (which outgrows the tail the swarm keeps).
    end_marker = b'"details":{"finish_reason"'

    def __init__(self, upstreams, args):
        self.answer_url, self.stream_url = upstreams
        self.embed_url = self.answer_url + "/v1/embeddings"

    def answer(self, session):
        started = time.perf_counter()
        r = session.post(self.answer_url, json=tgi_body(8, False), timeout=60)
        return r.status_code == 200, None, (time.perf_counter() - started) * 1000

    def embed(self, session, encoding="float"):
        return post_embeddings(session, self.embed_url, "bench", encoding)

    def stream_request(self, session, tokens):
        return session.post(self.stream_url, json=tgi_body(tokens, True), stream=True, timeout=120)

    def stream_spec(self, tokens):
        return {"url": self.stream_url, "body": {"json": tgi_body(tokens, True)}}


class Floor(Direct):
    name = "bare floor"

    def __init__(self, upstreams, args):
        env = {
            **os.environ,
            **args.server_env,
            "FLOOR_ANSWER": upstreams[0],
            "FLOOR_STREAM": upstreams[1],
            "PORT": str(free_port()),
            "SECRET_KEY": "bench-floor-" + "x" * 40,  # config/gunicorn.py reads the server settings from Django
        }
        self.process, url = gunicorn("bench.floor_wsgi", env, "bench/floor_gunicorn.py")
        wait_ready(url + "/", self.process)
        self.answer_url, self.stream_url = url + "/answer", url + "/stream"
        self.embed_url = url + "/embeddings"


class Console(Target):
    """A console of its own: temporary data folder (or DATABASE_URL), gunicorn with the project's config."""

    name = "console"
    token_marker = b'"token"'
    end_marker = b'"done"'
    root = ROOT  # the checkout served (--before serves another one side by side)

    def __init__(self, upstreams, args):
        self.tmp = tempfile.mkdtemp(prefix="console-bench-")
        from providers.core.crypto import generate_key

        self.env = {
            **os.environ,
            **args.server_env,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "bench-secret-key-" + "x" * 40,
            "ENCRYPTION_KEYS": generate_key("bench"),
            "DATA_DIR": self.tmp,
            "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{self.tmp}/console.sqlite3"),
            "OUTBOUND_ALLOW_HTTP": "true",
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
            "PLAYGROUND_RUNS_PER_MINUTE": "0",
            "PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
        }
        python = str(self.root / ".venv" / "bin" / "python")
        run = dict(cwd=self.root, env=self.env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([python, "manage.py", "migrate", "--noinput"], **run)
        subprocess.run([python, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"], **run)
        setup = SETUP.format(password=PASSWORD, answer=upstreams[0], stream=upstreams[1])
        subprocess.run([python, "manage.py", "shell", "-c", setup], **run)
        self.process, self.url = gunicorn("config.wsgi", self.env, root=self.root)
        wait_ready(self.url + "/healthz", self.process)
        self.template = self._login()

    def _login(self):
        s = requests.Session()
        s.get(self.url + "/accounts/login/")
        s.post(
            self.url + "/accounts/login/",
            data={"username": "bench", "password": PASSWORD, "csrfmiddlewaretoken": s.cookies["csrftoken"]},
        )
        s.headers["X-CSRFToken"] = s.cookies["csrftoken"]
        return s

    def session(self):
        """A fresh connection with the one log-in's cookie: password hashing is not what is measured."""
        s = requests.Session()
        s.cookies.update(self.template.cookies)
        s.headers.update(self.template.headers)
        return s

    def answer(self, session):
        form = {"model": 1, "prompt": "Why is the sky blue", "max_new_tokens": "8"}
        started = time.perf_counter()
        r = session.post(self.url + "/playground/run/", data=form, timeout=60)
        return r.status_code == 200 and b'"done"' in r.content, None, (time.perf_counter() - started) * 1000

    def _stream_form(self, tokens):
        return {"model": 2, "prompt": "go", "max_new_tokens": str(tokens), "stream": "on"}

    def stream_request(self, session, tokens):
        return session.post(self.url + "/playground/run/", data=self._stream_form(tokens), stream=True, timeout=120)

    def stream_spec(self, tokens):
        return {
            "url": self.url + "/playground/run/",
            "body": {"data": self._stream_form(tokens)},
            "headers": dict(self.template.headers),
            "cookies": self.template.cookies.get_dict(),
        }


class Api(Console):
    """The console's OpenAI-compatible /v1/ routes on a console of their own, with a personal key (limits off: the
    bench measures the path, not the limiter). The models are text-generation, so /v1/completions is the route."""

    name = "console /v1/"
    token_marker = b'"text"'
    end_marker = b"[DONE]"
    LIMITS_OFF = {"API_REQUESTS_PER_MINUTE": "0", "API_MAX_STREAMS": "0", "API_MAX_KEYS_PER_USER": "0"}

    def __init__(self, upstreams, args):
        args = argparse.Namespace(**{**vars(args), "server_env": {**args.server_env, **self.LIMITS_OFF}})
        super().__init__(upstreams, args)

    def _login(self):
        python = str(self.root / ".venv" / "bin" / "python")
        out = subprocess.run(
            [python, "manage.py", "create_api_key", "bench", "bench"],
            cwd=self.root,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        self.key = out.strip().splitlines()[-1]
        return None

    def session(self):
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {self.key}"
        return s

    def _body(self, model, tokens, stream):
        return {"model": model, "prompt": "Why is the sky blue", "max_tokens": tokens, "stream": stream}

    def answer(self, session):
        started = time.perf_counter()
        r = session.post(self.url + "/v1/completions", json=self._body("answer", 8, False), timeout=60)
        ok = r.status_code == 200 and b'"text_completion"' in r.content
        return ok, None, (time.perf_counter() - started) * 1000

    def embed(self, session, encoding="float"):
        return post_embeddings(session, self.url + "/v1/embeddings", "answer-embed", encoding)

    def stream_request(self, session, tokens):
        return session.post(
            self.url + "/v1/completions", json=self._body("stream", tokens, True), stream=True, timeout=120
        )

    def stream_spec(self, tokens):
        return {
            "url": self.url + "/v1/completions",
            "body": {"json": self._body("stream", tokens, True)},
            "headers": {"Authorization": f"Bearer {self.key}"},
        }


class ApiChat(Api):
    """/v1/chat/completions relayed to an OpenAI-compatible upstream (a vLLM-like server): the events go on as
    they came, unparsed."""

    name = "console /v1/ chat relay"
    token_marker = b'"content"'

    def _body(self, model, tokens, stream):
        messages = [{"role": "user", "content": "Why is the sky blue"}]
        return {"model": f"{model}-chat", "messages": messages, "max_tokens": tokens, "stream": stream}

    def answer(self, session):
        started = time.perf_counter()
        r = session.post(self.url + "/v1/chat/completions", json=self._body("answer", 8, False), timeout=60)
        ok = r.status_code == 200 and b'"chat.completion"' in r.content
        return ok, None, (time.perf_counter() - started) * 1000

    def stream_request(self, session, tokens):
        return session.post(
            self.url + "/v1/chat/completions", json=self._body("stream", tokens, True), stream=True, timeout=120
        )

    def stream_spec(self, tokens):
        return {
            "url": self.url + "/v1/chat/completions",
            "body": {"json": self._body("stream", tokens, True)},
            "headers": {"Authorization": f"Bearer {self.key}"},
        }


class LiteLLM(Target):
    """LiteLLM's proxy from its own virtualenv, the Hub made unreachable (it fetches config.json from it)."""

    name = "LiteLLM proxy"
    token_marker = b'"content"'
    end_marker = b"[DONE]"

    def __init__(self, upstreams, args):
        self.tmp = tempfile.mkdtemp(prefix="litellm-bench-")
        config = Path(self.tmp) / "config.yaml"
        config.write_text(LITELLM_CONFIG.format(answer=upstreams[0], stream=upstreams[1]))
        port = free_port()
        env = {**os.environ, "HF_TOKEN": "hf_bench", "HUGGINGFACE_API_KEY": "hf_bench", "LITELLM_LOG": "ERROR"}
        env["LITELLM_MASTER_KEY"] = self.key = "sk-bench-" + "0" * 32
        if args.litellm_no_hub:
            # Every outbound request but loopback goes to a closed port: the Hub look-up fails at once.
            dead = f"http://127.0.0.1:{free_port()}"
            env.update(HTTP_PROXY=dead, HTTPS_PROXY=dead, http_proxy=dead, https_proxy=dead)
            env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        self.process = subprocess.Popen(
            [args.litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=self.tmp,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(self.tmp) / "stderr.log", "w"),  # noqa: SIM115 (lives as long as the process)
        )
        self.url = f"http://127.0.0.1:{port}"
        wait_ready(self.url + "/health/liveliness", self.process, seconds=180)

    def session(self):
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {self.key}"
        return s

    def _body(self, model, tokens, stream):
        return {
            "model": model,
            "messages": [{"role": "user", "content": "Why is the sky blue"}],
            "max_tokens": tokens,
            "stream": stream,
        }

    def answer(self, session):
        started = time.perf_counter()
        r = session.post(self.url + "/v1/chat/completions", json=self._body("answer", 8, False), timeout=60)
        return r.status_code == 200, None, (time.perf_counter() - started) * 1000

    def stream_request(self, session, tokens):
        return session.post(
            self.url + "/v1/chat/completions", json=self._body("stream", tokens, True), stream=True, timeout=120
        )

    def stream_spec(self, tokens):
        return {
            "url": self.url + "/v1/chat/completions",
            "body": {"json": self._body("stream", tokens, True)},
            "headers": {"Authorization": f"Bearer {self.key}"},
        }


TARGETS = {
    "direct": Direct,
    "floor": Floor,
    "console": Console,
    "api": Api,
    "api-chat": ApiChat,
    "litellm": LiteLLM,
}


def before(target_class, root):
    """`target_class` served from the checkout at `root` (the code before a change, with its own .venv), so that
    before and after run in one interleaved bench, side by side."""
    name = f"{target_class.name} (before)"
    return type(f"{target_class.__name__}Before", (target_class,), {"name": name, "root": Path(root).resolve()})


def median(values):
    return statistics.median(values) if values else float("nan")


_ORDER = random.Random(14)  # the same sequence of orders on every run


def _turns(count):
    """The targets' order for one round, shuffled: a server still busy after its answer (the console's run
    write, the API's call record, LiteLLM's logging) slows whichever target comes next, so no target may always
    come after the same one (in a fixed order the floor always followed the direct call, the quietest slot)."""
    order = list(range(count))
    _ORDER.shuffle(order)
    return order


def whole_answers(targets, count, call=lambda target, session: target.answer(session)):
    """Paired whole-answer times per target, and each server's CPU per answer (ms; None without a server).
    `call(target, session)` makes one request: an answer, or an embeddings call (on the targets that have it).

    The servers wait while the others answer, so each one's CPU over the whole loop is its own requests'."""
    sessions = [t.session() for t in targets]
    times = [[] for _ in targets]
    for i in range(count + 10):
        if i == 10:  # warm-up excluded
            cpu = [cpu_seconds(t.pids()) for t in targets]
        for k in _turns(len(targets)):
            target, session = targets[k], sessions[k]
            ok, _, ms = call(target, session)
            if not ok:
                raise SystemExit(f"{target.name}: a request failed")
            if i >= 10:
                times[k].append(ms)
    per_answer = [
        (cpu_seconds(t.pids()) - before) / count * 1000 if t.pids() else None
        for t, before in zip(targets, cpu, strict=True)
    ]
    return times, per_answer


def first_tokens(targets, count, tokens):
    sessions = [t.session() for t in targets]
    ttfts = [[] for _ in targets]
    for i in range(count + 5 if count else 0):  # --first-tokens 0: none at all, not just the warm-up
        for k in _turns(len(targets)):
            target, session = targets[k], sessions[k]
            ok, ttft, _ = target.stream(session, tokens)
            if not ok or ttft is None:
                raise SystemExit(f"{target.name}: stream failed")
            if i >= 5:
                ttfts[k].append(ttft)
    return ttfts


def simultaneous(target, streams, tokens):
    """`streams` clients (greenlets of bench/swarm.py) start together, one connection each; figures for the table."""
    spec = {"streams": streams, "token_marker": target.token_marker.decode(), "end_marker": target.end_marker.decode()}
    spec.update(target.stream_spec(tokens))
    swarm = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "swarm.py"), json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    swarm.stdout.readline()  # ready
    pids = target.pids()
    peak = [rss_kib(pids)]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(target.pids()))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu_before = cpu_seconds(target.pids())
    started = time.perf_counter()
    swarm.stdin.write("go\n")
    swarm.stdin.flush()
    results = json.loads(swarm.stdout.readline())
    wall = time.perf_counter() - started
    cpu = cpu_seconds(target.pids()) - cpu_before
    swarm.wait()
    done.set()
    sampler.join()
    ok = [r for r in results if r[0]]
    return {
        "wall": wall,
        "ttft_median": percentile([r[1] for r in ok], 50) / 1000 if ok else float("nan"),
        "ttft_p99": percentile([r[1] for r in ok], 99) / 1000 if ok else float("nan"),
        "failures": streams - len(ok),
        "rss_mib": peak[0] / 1024 if pids else None,
        "cpu_per_1000": cpu / (len(ok) * tokens) * 1e6 if ok and pids else None,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", default="direct,floor,console,api,litellm")
    parser.add_argument("--requests", type=int, default=200, help="whole answers per target")
    parser.add_argument("--first-tokens", type=int, default=60, help="single streams per target")
    parser.add_argument("--streams", default="64,1000", help="simultaneous stream counts")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each simultaneous count")
    parser.add_argument("--embeddings", type=int, default=200, help="embeddings calls per target (0: none)")
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--pace-ms", type=float, default=20)
    parser.add_argument(
        "--upstream",
        choices=["lean", "emulator"],
        default="lean",
        help="bench/pace_upstream.py (default), or the test suite's emulator (heavier per token)",
    )
    parser.add_argument("--litellm", default="/work/litellm-venv/bin/litellm")
    parser.add_argument("--litellm-no-hub", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--server-env", action="append", default=[], help="NAME=VALUE for console and floor")
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="another checkout (a git worktree with a .venv): adds console-before, api-before, api-chat-before",
    )
    args = parser.parse_args()
    if args.before:
        for name in ("console", "api", "api-chat"):
            TARGETS[f"{name}-before"] = before(TARGETS[name], args.before)
    args.server_env = dict(item.split("=", 1) for item in args.server_env)

    latency, pace = args.latency_ms / 1000, args.pace_ms / 1000
    if args.upstream == "lean":
        command = [sys.executable, str(ROOT / "bench" / "pace_upstream.py"), str(latency), str(pace)]
    else:
        command = [sys.executable, "-c", UPSTREAM.format(root=repr(str(ROOT)), latency=latency, pace=pace)]
    upstream = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    upstreams = upstream.stdout.readline().split()
    targets = []
    try:
        for name in args.targets.split(","):
            targets.append(TARGETS[name](upstreams, args))
        print(f"targets: {', '.join(t.name for t in targets)}; server env: {args.server_env or 'defaults'}")
        pace = f"streams of {args.tokens} tokens {args.pace_ms:.0f} ms apart"
        print(f"upstream: answers after {args.latency_ms:.0f} ms; {pace}")
        rows = {}
        answers, answer_cpu = (
            whole_answers(targets, args.requests) if args.requests else ([[] for _ in targets], [None] * len(targets))
        )
        firsts = first_tokens(targets, args.first_tokens, 5)  # the first token is what counts here
        direct = next((k for k, t in enumerate(targets) if isinstance(t, Direct) and not isinstance(t, Floor)), None)
        for k in range(len(targets)):
            if direct is not None and k != direct:
                added = [a - d for a, d in zip(answers[k], answers[direct], strict=True)]
                rows.setdefault("whole answer, added median (ms)", {})[k] = f"{median(added):.1f}"
                added = [a - d for a, d in zip(firsts[k], firsts[direct], strict=True)]
                rows.setdefault("first token added, one stream (ms)", {})[k] = f"{median(added):.1f}"
            else:
                rows.setdefault("whole answer, added median (ms)", {})[k] = f"({median(answers[k]):.1f} total)"
                rows.setdefault("first token added, one stream (ms)", {})[k] = f"({median(firsts[k]):.1f} TTFT)"
        for k, value in enumerate(answer_cpu):
            rows.setdefault("server CPU per whole answer (ms)", {})[k] = f"{value:.1f}" if value is not None else "–"
        embedders = [k for k, t in enumerate(targets) if t.embed is not None]
        for encoding in ("float", "base64") if args.embeddings and direct in embedders else ():
            # The same interleaved, paired measure as whole answers, on the targets with an embeddings route;
            # base64 is what the openai package asks for unless told otherwise.
            label = f"embeddings, {len(EMBED_TEXTS)} texts, {encoding}"
            times, cpu = whole_answers(
                [targets[k] for k in embedders], args.embeddings, lambda t, s, e=encoding: t.embed(s, e)
            )
            base = times[embedders.index(direct)]
            for i, k in enumerate(embedders):
                added = [a - d for a, d in zip(times[i], base, strict=True)]
                cell = f"{median(added):.2f}" if k != direct else f"({median(base):.1f} total)"
                rows.setdefault(f"{label}: added median (ms)", {})[k] = cell
                rows.setdefault(f"{label}: server CPU per call (ms)", {})[k] = (
                    f"{cpu[i]:.2f}" if cpu[i] is not None else "–"
                )
        for count in [int(c) for c in args.streams.split(",") if c]:
            figures = [[] for _ in targets]
            for _ in range(args.rounds):
                for k, target in enumerate(targets):
                    figures[k].append(simultaneous(target, count, args.tokens))
                    time.sleep(1)  # let closed connections drain between targets
            for k in range(len(targets)):
                fs = figures[k]

                def span(key, fmt, fs=fs):
                    values = [f[key] for f in fs if f[key] is not None]
                    if not values:
                        return "–"
                    low, high = fmt.format(min(values)), fmt.format(max(values))
                    return low if low == high else f"{low}–{high}"

                rows.setdefault(f"{count} streams: wall (s)", {})[k] = span("wall", "{:.2f}")
                rows.setdefault(f"{count} streams: TTFT median (s)", {})[k] = span("ttft_median", "{:.2f}")
                rows.setdefault(f"{count} streams: TTFT p99 (s)", {})[k] = span("ttft_p99", "{:.2f}")
                rows.setdefault(f"{count} streams: failures", {})[k] = span("failures", "{}")
                rows.setdefault(f"{count} streams: peak RSS (MiB)", {})[k] = span("rss_mib", "{:.0f}")
                rows.setdefault(f"{count} streams: CPU per 1,000 tokens (ms)", {})[k] = span("cpu_per_1000", "{:.0f}")
        print()
        print("| | " + " | ".join(t.name for t in targets) + " |")
        print("|---" * (len(targets) + 1) + "|")
        for label, cells in rows.items():
            print(f"| {label} | " + " | ".join(cells.get(k, "–") for k in range(len(targets))) + " |")
    finally:
        for target in targets:
            target.close()
        upstream.terminate()


if __name__ == "__main__":
    main()
