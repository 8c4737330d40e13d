"""Everything the console writes at start-up is private (folders 700, files 600) under umask 022.

Everything the console writes is private (folders 700, files 600) after the real start-up paths, run as
processes with the usual umask 022: manage.py migrate, gunicorn serving a request that writes a session, and
the first-run .env. An existing folder that is too open is reported in one line and fixed."""

import os
import re
import stat
import subprocess
from pathlib import Path

import requests

from providers.core.crypto import generate_key
from tests.conftest import free_port
from tests.served import wait_until_up

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def environment(data_dir, **extra):
    # tests.settings: the real settings with static files served without a collectstatic manifest.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SECRET_KEY": "file-mode-test-" + "x" * 40,
        "ENCRYPTION_KEYS": generate_key("fm"),
        "DATA_DIR": str(data_dir),
        **extra,
    }


def with_umask_022():
    os.umask(0o022)


def run(args, env):
    return subprocess.run(
        args, cwd=ROOT, env=env, preexec_fn=with_umask_022, capture_output=True, text=True, timeout=120
    )


def modes(folder):
    found = {folder: stat.S_IMODE(os.stat(folder).st_mode)}
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(parent, name)
            found[path] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def assert_private(folder):
    for path, mode in modes(folder).items():
        expected = 0o700 if os.path.isdir(path) else 0o600
        assert mode == expected, f"{path} has mode {mode:o}, expected {expected:o}"


def test_migrate_and_gunicorn_write_only_private_files_under_umask_022(tmp_path):
    data = tmp_path / "data"
    scratch = tmp_path / "tmp"  # the test settings keep the session cache folder under TMPDIR
    scratch.mkdir()
    env = environment(
        data, PORT=str(free_port()), HOST="127.0.0.1", WEB_WORKERS="1", WEB_THREADS="4", TMPDIR=str(scratch)
    )
    done = run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # a new folder is created private: nothing to report
    assert (data / "console.sqlite3").exists()
    assert_private(data)

    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "--config", "config/gunicorn.py", "config.wsgi"],
        cwd=ROOT,
        env=env,
        preexec_fn=with_umask_022,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "gunicorn.log", "w"),  # noqa: SIM115 (closed with the process)
    )
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_until_up(base)
        session = requests.Session()
        session.get(base + "/setup/", timeout=10)
        created = session.post(
            base + "/setup/",
            data={
                "username": "root-admin",
                "email": "a@example.com",
                "password1": "Vq8#kd93jf!xx",
                "password2": "Vq8#kd93jf!xx",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            allow_redirects=False,
            timeout=10,
        )
        assert created.status_code == 302
        assert session.get(base + "/settings/providers/", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert_private(data)
    cache = scratch / f"hfconsole-test-cache-{server.pid}"
    assert any(p.name.endswith(".djcache") for p in cache.iterdir())  # the session reached the cache
    assert_private(cache)
    assert "data folder" not in (tmp_path / "gunicorn.log").read_text()


def test_an_existing_folder_that_is_too_open_is_reported_once_and_fixed(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "old.sqlite3").write_text("x")
    os.chmod(data / "old.sqlite3", 0o644)
    env = environment(data)
    done = run([PYTHON, "manage.py", "check"], env)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and re.search(r"data folder .* \(mode 755\) had 2 item\(s\).*made them private", lines[0])
    assert_private(data)
    again = run([PYTHON, "manage.py", "check"], env)
    assert again.stderr == ""


def test_the_first_run_env_file_is_private(tmp_path):
    target = tmp_path / ".env"
    script = f"from pathlib import Path; from config.localenv import main; main(Path({str(target)!r}))"
    env = environment(tmp_path / "d")
    del env["SECRET_KEY"], env["ENCRYPTION_KEYS"]
    done = run([PYTHON, "-c", script], env)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_an_api_limits_folder_outside_the_data_folder_is_made_private_too(tmp_path):
    data, shared = tmp_path / "data", tmp_path / "limits"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    (shared / "key-1-hfc_abcdefgh.rate").write_text("0")
    os.chmod(shared / "key-1-hfc_abcdefgh.rate", 0o666)
    env = environment(data, API_LIMITS_DIR=str(shared))
    done = run([PYTHON, "manage.py", "check"], env)
    assert done.returncode == 0, done.stderr
    assert re.search(r"API limits folder .* \(mode 777\) had 2 item\(s\).*made them private", done.stderr)
    assert_private(shared)
