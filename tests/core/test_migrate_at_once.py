"""Several instances starting at once on an empty database each run `manage.py migrate`: all succeed, and every
migration is applied once."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _migrate_at_once(database_url, data_dir, count=3):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url}
    env["DATA_DIR"] = str(data_dir)
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(count)
    ]
    return [(p.wait(timeout=240), p.stdout.read()) for p in processes]


def _applied(cursor):
    cursor.execute("SELECT COUNT(*), COUNT(DISTINCT app || '.' || name) FROM django_migrations")
    return cursor.fetchone()


def test_instances_migrating_one_sqlite_file_at_once_all_succeed(tmp_path):
    import sqlite3

    results = _migrate_at_once(f"sqlite:///{tmp_path / 'console.sqlite3'}", tmp_path)
    assert [code for code, _out in results] == [0, 0, 0], results
    with sqlite3.connect(tmp_path / "console.sqlite3") as db:
        total, distinct = _applied(db.cursor())
    assert total == distinct > 20


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL run of the suite (DATABASE_URL)")
@pytest.mark.django_db
def test_instances_migrating_one_postgresql_database_at_once_all_succeed(tmp_path):
    import psycopg

    settings = connection.settings_dict
    name = f"race_{uuid.uuid4().hex[:12]}"
    server = dict(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
    )
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
        url = f"postgres://{settings['USER']}{password}@{settings['HOST']}:{settings['PORT']}/{name}"
        results = _migrate_at_once(url, tmp_path)
        assert [code for code, _out in results] == [0, 0, 0], results
        with psycopg.connect(dbname=name, **server) as db:
            total, distinct = _applied(db.cursor())
        assert total == distinct > 20
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
