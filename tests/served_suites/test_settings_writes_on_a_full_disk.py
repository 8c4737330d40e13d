"""Every write of the settings screen on a full disk answers 503 with words, never a 500: saving a model (the form
keeps what was typed, the token aside), the provider token, enabling, deleting, importing, and recording a Test
connection result (which is still shown).

The disk is really full: the served console's SQLite database lives on a small tmpfs mounted for the test, whose
free space a filler file then takes (its write-ahead log checkpointed and truncated first, so that every write
must grow a file). Mounting needs root; without it the suite is skipped.
"""

import errno
import io
import json
import sqlite3
import subprocess

import pytest

from tests.conftest import login_session
from tests.served import Console

ADMIN_AND_MODEL = """
from providers.core import roles
from providers.models import HFModel
from django.contrib.auth.models import User
user = User.objects.create_user("ada", "a@example.com", "{password}")
roles.set_role(user, roles.ADMIN)
HFModel.objects.create(display_name="paced", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{base}/ep/tgi")
"""
SECRET = "hf_typedButNeverShownAgain1234"


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root: " + mounted.stderr.decode().strip())
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def console(emulator, small_disk):
    served = Console(emulator, small_disk, ADMIN_AND_MODEL, {"WEB_WORKERS": "1", "WEB_THREADS": "2"})
    try:
        yield served.start()
    finally:
        served.stop()


def fill(folder, db):
    """Take every free byte of the file system the database is on."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(folder / "filler", "wb", buffering=0) as filler:
        for size in (1 << 20, 4096, 1):  # down to the last byte
            try:
                while True:
                    filler.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


def test_settings_writes_on_a_full_disk_answer_503_with_words(console, small_disk):
    session = login_session(console.url, "ada")
    base = console.url + "/settings/providers/huggingface"
    session.get(base + "/models/new/")
    fill(small_disk, console.db)

    typed = {"display_name": "typed name", "endpoint_type": "hosted_api", "task": "text2text-generation"}
    typed.update({"repo_id": "google/flan-t5-base", "api_token": SECRET, "enabled": "on"})
    added = session.post(base + "/models/new/", data=typed, allow_redirects=False)
    assert added.status_code == 503, added.text[:500]
    assert "no space left" in added.text and 'value="typed name"' in added.text and SECRET not in added.text

    edited = session.post(base + "/models/1/edit/", data={**typed, "version": "1"}, allow_redirects=False)
    assert edited.status_code == 503 and 'value="typed name"' in edited.text and SECRET not in edited.text

    for path, data in [
        ("/token/", {"api_token": SECRET}),
        ("/models/1/toggle/", {}),
        ("/models/1/delete/", {}),
    ]:
        answer = session.post(base + path, data=data, allow_redirects=False)
        assert answer.status_code == 503, (path, answer.status_code)
        assert "no space left" in answer.text and SECRET not in answer.text

    entry = {"display_name": "imported", "endpoint_type": "hosted_api", "task": "text2text-generation"}
    entry["repo_id"] = "google/flan-t5-base"
    upload = io.BytesIO(json.dumps({"format": "hf-model-console/models", "models": [entry]}).encode())
    imported = session.post(base + "/import/", files={"file": ("m.json", upload)}, allow_redirects=False)
    assert imported.status_code == 503 and "no space left" in imported.text

    tested = session.post(base + "/models/1/test/", headers={"Accept": "application/json"})
    assert tested.status_code == 503
    result = tested.json()
    assert result["recorded"] is False and result["category"] is not None
    assert "no space left" in result["errors"]["__all__"][0]["message"]

    (small_disk / "filler").unlink()  # space again: the same save goes through
    assert session.post(base + "/models/new/", data=typed, allow_redirects=False).status_code == 302
