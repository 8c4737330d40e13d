"""A served process keeps the memory of a large answer it freed for the next call (config/memory.py), instead of
taking fresh pages from the system for each copy of each answer."""

import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is glibc's malloc's")

CALLS = textwrap.dedent(
    """
    import resource

    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    for call in range(60):
        if call == 10:
            start = faults()
        read = bytes(335_000)  # a float embeddings answer of 64 x 384 numbers, as read
        passed = read[:-1] + b"}"  # its model renamed
        written = passed + b"\\n"
        del read, passed, written
    print("faults per call", (faults() - start) / 50)
    """
)


def _faults_per_call(first, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "test-secret-key-" + "x" * 40,
        "DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", first + CALLS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return float(done.stdout.split()[-1])


def test_gunicorns_processes_take_no_fresh_pages_for_each_large_answer(tmp_path):
    assert _faults_per_call("import config.gunicorn\n", tmp_path) < 5  # the master, and the workers it forks
    assert _faults_per_call("", tmp_path) > 100  # the same calls in a process left as glibc starts it
