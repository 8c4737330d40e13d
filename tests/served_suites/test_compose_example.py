"""compose.yaml (PostgreSQL, Redis, two consoles, a balancer) sets up and serves each console as the served tests
do, with the database and cache shared and a data folder each. Images cannot be pulled here, so the file is read,
not run."""

from pathlib import Path

import yaml

from tests.served import GUNICORN, MIGRATE, WSGI_APP, instance_env

ROOT = Path(__file__).resolve().parents[2]


def _compose():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _consoles(compose):
    return {name: s for name, s in compose["services"].items() if name.startswith("console")}


def test_the_example_has_a_database_a_cache_two_consoles_and_a_balancer():
    services = _compose()["services"]
    assert {"postgres", "redis", "balancer"} <= set(services)
    assert len(_consoles(_compose())) == 2


def test_each_console_migrates_then_serves_as_the_served_tests_do():
    for name, service in _consoles(_compose()).items():
        command = " ".join(service["command"])
        migrate, serve = command.index("manage.py " + " ".join(MIGRATE)), command.index(" ".join(GUNICORN))
        assert migrate < serve, name
        assert command.rstrip().endswith(WSGI_APP), name
        assert service["env_file"] == ".env", name  # one SECRET_KEY and ENCRYPTION_KEYS for all


def test_the_consoles_share_the_database_and_the_cache_and_keep_their_own_data():
    consoles = _consoles(_compose())
    envs = [service["environment"] for service in consoles.values()]
    for env in envs:
        assert set(instance_env("db", "cache", "/data")) <= set(env)
        assert "@postgres:" in env["DATABASE_URL"] and env["CACHE_URL"].startswith("redis://redis:")
    assert len({env["DATABASE_URL"] for env in envs}) == 1 and len({env["CACHE_URL"] for env in envs}) == 1
    data_volumes = {
        volume.split(":")[0]
        for service in consoles.values()
        for volume in service["volumes"]
        if volume.endswith(":" + service["environment"]["DATA_DIR"])
    }
    assert len(data_volumes) == 2


def test_the_balancer_checks_each_console_on_healthz():
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    assert "option httpchk GET /healthz" in config
    for name in _consoles(_compose()):
        assert f"server {name} {name}:8000 check" in config
