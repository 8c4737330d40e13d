"""Two served consoles on one PostgreSQL: when one dies with a run in flight (kill -9 of master and workers), the
other, which serves no playground run itself, marks that run interrupted within RUN_STALE_SECONDS, keeping the text
saved so far; while the first lives, its run is left alone."""

import os
import signal
import time

import psycopg
import pytest

from tests.conftest import login_session, wait_for
from tests.hf_emulator import WORDS
from tests.served import MIA_AND_PACED, Console
from tests.served_suites.test_run_lifecycle import Stream
from tests.stores import Postgres

STALE = 3.0
EMITTED = "".join((" " if i else "") + WORDS[i % len(WORDS)] for i in range(200))


@pytest.fixture
def postgres():
    server = Postgres()
    yield server
    server.remove()


def console(emulator, folder, setup, postgres):
    folder.mkdir()
    env = {
        "DATABASE_URL": postgres.url,
        "DATA_DIR": str(folder / "data"),  # a machine of its own
        "WEB_WORKERS": "1",
        "RUN_CHECKPOINT_SECONDS": "0.3",
        "RUN_STALE_SECONDS": str(STALE),
    }
    return Console(emulator, folder, setup, env=env)


def run_row(postgres):
    with psycopg.connect(postgres.url) as db:
        return db.execute("SELECT status, output, error_category FROM providers_playgroundrun").fetchone()


def test_a_dead_instance_run_is_swept_by_the_other_within_run_stale_seconds(hf, postgres, tmp_path):
    first = console(hf, tmp_path / "first", MIA_AND_PACED, postgres).start(own_group=True)
    second = console(hf, tmp_path / "second", "pass", postgres).start()
    try:
        hf.token_delay = 0.1  # 200 tokens: a 20 s stream
        stream = Stream(first, login_session(first.url, "mia"))
        assert wait_for(lambda: stream.tokens >= 5, 10)
        time.sleep(STALE + 1)  # longer than RUN_STALE_SECONDS: the first's lease is renewed, its run left alone
        assert run_row(postgres)[0] == "running"
        seen = stream.text
        time.sleep(0.8)  # at least two checkpoints since

        os.killpg(first.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        first.process.wait(timeout=10)
        assert wait_for(lambda: run_row(postgres)[0] != "running", STALE + 5)
        swept_after = time.monotonic() - killed
        status, output, category = run_row(postgres)
        assert (status, category) == ("interrupted", "run_interrupted")
        assert output.startswith(seen) and EMITTED.startswith(output)
        assert swept_after <= STALE, f"swept {swept_after:.2f} s after the kill"

        second.stop()  # a clean stop deletes its lease; the dead one's went with its runs
        with psycopg.connect(postgres.url) as db:
            assert db.execute("SELECT count(*) FROM providers_lease").fetchone() == (0,)
    finally:
        second.stop()
        first.stop()
