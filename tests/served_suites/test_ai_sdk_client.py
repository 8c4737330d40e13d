"""The Vercel AI SDK under Node against the console served by gunicorn: generateText, streamText, generateObject and
a tool loop, whole and streamed (ai_sdk_script.mjs). The packages are installed with npm once into a cache outside
the clone, keyed by their major versions, and reused."""

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TOKEN
from tests.served import Console
from tests.served_suites.test_api_clients import SETUP

PACKAGES = ("ai@7", "@ai-sdk/openai-compatible@3", "zod@4")
CACHE = Path.home() / ".cache" / "hf-console" / "node-ai-sdk-ai7-openai-compatible3-zod4"
SCRIPT = Path(__file__).with_name("ai_sdk_script.mjs")


def node_modules():
    """The packages' folder, installed under a lock (two test runs at once install once)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "Node 20 and npm are needed for the AI SDK's tests (apt-get install nodejs npm)"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE.parent / (CACHE.name + ".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (CACHE / "node_modules" / "ai" / "package.json").exists():
            subprocess.run(
                [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", *PACKAGES],
                check=True,
                capture_output=True,
                timeout=600,
            )
    return CACHE / "node_modules"


@pytest.fixture(scope="module")
def served(emulator, tmp_path_factory):
    modules = node_modules()
    tmp = tmp_path_factory.mktemp("ai-sdk-served")
    env = {
        "API_LIMITS_DIR": str(tmp / "limits"),
        "HF_HUB_URL": emulator.hub_url,
        "HF_ROUTER_URL": emulator.router_url,
        "WEB_WORKERS": "2",
        "WEB_THREADS": "4",
    }
    console = Console(emulator, tmp, SETUP, env, token=TOKEN).start()
    key = console.manage("create_api_key", "mia", "ai-sdk").strip().splitlines()[-1]
    app = tmp / "app"  # the script beside a node_modules of its own, as in an app, resolving to the cache
    app.mkdir()
    (app / "node_modules").symlink_to(modules)
    shutil.copy(SCRIPT, app / "script.mjs")
    try:
        yield {"url": console.url + "/v1", "key": key, "script": app / "script.mjs"}
    finally:
        console.stop()


@pytest.mark.parametrize("model", ["llama-chat", "tgi-chat"])
def test_ai_sdk_text_stream_object_and_tools(served, hf, model):
    env = {**os.environ, "BASE": served["url"], "KEY": served["key"], "MODEL": model}
    done = subprocess.run(
        [shutil.which("node"), str(served["script"])], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(out["generateText"]["text"].split()) == 3 and out["generateText"]["finishReason"] == "length"
    assert out["generateText"]["usage"]["outputTokens"] == 3
    assert len(out["streamText"]["text"].split()) == 4 and out["streamText"]["finishReason"] == "length"
    assert out["generateObject"] == {"city": "Paris", "degrees": 18}
    assert out["tools"]["calls"] == ["Paris"] and out["tools"]["steps"] == ["tool-calls", "stop"]
    assert out["tools"]["text"] == "The tool said: 18 degrees in Paris"
    assert out["streamedTools"] == {"text": "The tool said: 18 degrees in Paris", "calls": ["Paris", "Paris"]}
