"""Real stores a served test can stop and start: a Redis server and a PostgreSQL cluster of its own, on 127.0.0.1.

They come from Debian's packages (`redis-server`, `postgresql`), which `.ci/run` installs. Without them a test that
needs one fails in CI and is skipped on a developer's machine that lacks them, with the package to install.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import free_port


def _missing(what, package):
    message = f"{what} is needed for this test: apt-get install {package}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Redis:
    def __init__(self, folder):
        binary = shutil.which("redis-server")
        if not binary:
            _missing("redis-server", "redis-server")
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Postgres:
    """A cluster in `folder`, run as the `postgres` user when the tests run as root (PostgreSQL refuses root)."""

    def __init__(self):
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        if not bins:
            _missing("PostgreSQL's server", "postgresql")
        # Not under pytest's tmp_path: the postgres user could not reach a folder inside root's private one.
        self.bin, self.data, self.port = bins[-1], Path(tempfile.mkdtemp(prefix="console-pg-")), free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/console"
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--encoding=UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "console")

    def _run(self, tool, *args):
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["su", "postgres", "-c", " ".join(command)]
        subprocess.run(command, check=True, capture_output=True, cwd="/tmp")

    def start(self):
        options = f"-p {self.port} -c unix_socket_directories= -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.data / "log"), "-o", f"'{options}'", "start")
        return self

    def stop(self):
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.data, ignore_errors=True)


def _wait_port(port, seconds=10):
    import socket

    until = time.monotonic() + seconds
    while time.monotonic() < until:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")
