"""A served process keeps the memory of a large answer it freed for the next call (config/memory.py), instead of
taking fresh pages from the system for each copy of each answer."""

import platform
import textwrap

import pytest

from tests.served import python

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
    done = python(first + CALLS, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return float(done.stdout.split()[-1])


def test_gunicorns_processes_take_no_fresh_pages_for_each_large_answer(tmp_path):
    assert _faults_per_call("import config.gunicorn\n", tmp_path) < 5  # the master, and the workers it forks
    assert _faults_per_call("", tmp_path) > 100  # the same calls in a process left as glibc starts it
