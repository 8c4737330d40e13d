"""Start-up warns about a set-up that would fail quietly with several instances: a cache of one machine's own
beside a shared database, and stored tokens this machine's keys cannot read (a missing shared .env)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from providers.core import checks, crypto
from providers.models import HFModel

ROOT = Path(__file__).resolve().parents[2]
OTHER_MACHINE_KEY = crypto.generate_key("local1")
THIS_MACHINE_KEY = "local1:" + crypto.generate_key().split(":", 1)[1]  # the same id, other bytes


def _check(**env):
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50}
    environment.pop("CACHE_URL", None)
    environment.update(ENCRYPTION_KEYS=THIS_MACHINE_KEY, **env)
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    return done.stdout + done.stderr


def test_a_local_cache_beside_postgresql_is_warned_about(tmp_path):
    out = _check(DATABASE_URL="postgres://console@127.0.0.1:9/console", DATA_DIR=str(tmp_path))
    assert "providers.W001" in out and "Redis" in out


def test_a_shared_cache_beside_postgresql_is_not(tmp_path):
    out = _check(
        DATABASE_URL="postgres://console@127.0.0.1:9/console", CACHE_URL="redis://127.0.0.1:9/0", DATA_DIR=str(tmp_path)
    )
    assert "providers.W001" not in out


@pytest.mark.django_db
def test_tokens_saved_with_another_machines_key_are_warned_about(settings):
    settings.ENCRYPTION_KEYS = [OTHER_MACHINE_KEY]
    model = HFModel(display_name="m", endpoint_type="hosted_api", task="text-generation", repo_id="a/b")
    model.set_secret("api_token", "hf_secretTOKEN1234")
    model.save()
    assert checks.stored_tokens_readable(None, databases=["default"]) == []

    settings.ENCRYPTION_KEYS = [THIS_MACHINE_KEY]
    warnings = checks.stored_tokens_readable(None, databases=["default"])
    assert [w.id for w in warnings] == ["providers.W002"]
    assert "local1" in warnings[0].msg and ".env" in warnings[0].hint
    assert "hf_secret" not in warnings[0].msg + warnings[0].hint


def test_a_first_run_env_names_its_key_by_a_random_id(tmp_path, monkeypatch):
    from config import localenv

    monkeypatch.delenv("ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    ids = set()
    for name in ("a.env", "b.env"):
        localenv.main(tmp_path / name)
        line = next(x for x in (tmp_path / name).read_text().splitlines() if x.startswith("ENCRYPTION_KEYS="))
        ids.add(line.split("=", 1)[1].split(":", 1)[0])
    assert len(ids) == 2
