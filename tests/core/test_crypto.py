"""Token encryption: authenticated, bound to table/row/field, fails closed, rotates."""

import base64
import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from providers.core import crypto
from providers.core.checks import encryption_keys_configured
from providers.core.secrets import rotate
from providers.models import HFModel, ProviderSettings
from tests.conftest import TOKEN, create_model

KEY_A = crypto.generate_key("a")
KEY_B = crypto.generate_key("b")


@pytest.fixture
def keys(settings):
    settings.ENCRYPTION_KEYS = [KEY_A]
    return settings


def test_round_trip_and_random_nonce(keys):
    one = crypto.encrypt(TOKEN, "t:1:api_token")
    two = crypto.encrypt(TOKEN, "t:1:api_token")
    assert one != two
    assert one.startswith("v1:a:")
    assert TOKEN not in one
    assert crypto.decrypt(one, "t:1:api_token") == TOKEN


def test_one_flipped_byte_fails(keys):
    stored = crypto.encrypt(TOKEN, "ctx")
    version, key_id, payload = stored.split(":")
    blob = bytearray(base64.urlsafe_b64decode(payload))
    for position in (0, 15, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(crypto.UndecryptableSecret):
            crypto.decrypt(f"{version}:{key_id}:{base64.urlsafe_b64encode(bytes(tampered)).decode()}", "ctx")


def test_relabelled_key_id_fails(keys, settings):
    settings.ENCRYPTION_KEYS = [KEY_A, "b:" + KEY_A.split(":", 1)[1]]  # same key material under another id
    stored = crypto.encrypt(TOKEN, "ctx")
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(stored.replace("v1:a:", "v1:b:"), "ctx")


@pytest.mark.django_db
def test_ciphertext_moved_to_another_row_or_field_fails(keys):
    first = create_model(display_name="one", token=TOKEN)
    second = create_model(display_name="two", token="hf_secondTOKEN1234")
    HFModel.objects.filter(pk=second.pk).update(api_token_encrypted=first.api_token_encrypted)
    second.refresh_from_db()
    with pytest.raises(crypto.UndecryptableSecret):
        second.get_secret("api_token")
    provider = ProviderSettings.load()
    provider.api_token_encrypted = first.api_token_encrypted
    with pytest.raises(crypto.UndecryptableSecret):
        provider.get_secret("api_token")
    assert first.get_secret("api_token") == TOKEN


@pytest.mark.django_db
def test_token_is_not_stored_in_plain_text(keys):
    model = create_model(token=TOKEN)
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_token_encrypted, api_token_last4 FROM providers_hfmodel WHERE id = %s", [model.pk])
        stored, last4 = cursor.fetchone()
    assert TOKEN not in stored and stored.startswith("v1:a:")
    assert last4 == TOKEN[-4:]


@pytest.mark.django_db
def test_wrong_key_gives_the_typed_error_and_keeps_the_ciphertext(keys, settings, admin_client):
    model = create_model(token=TOKEN)
    stored = model.api_token_encrypted
    settings.ENCRYPTION_KEYS = [KEY_B]
    model.refresh_from_db()
    with pytest.raises(crypto.UndecryptableSecret) as info:
        model.get_secret("api_token")
    assert "cannot be decrypted with the configured keys" in str(info.value)
    page = admin_client.get(f"/settings/providers/huggingface/models/{model.pk}/edit/")
    assert page.status_code == 200
    assert b"This token cannot be decrypted with the configured keys" in page.content
    result = admin_client.post(f"/settings/providers/huggingface/models/{model.pk}/test/").json()
    assert result["category"] == "token_unreadable"
    model.refresh_from_db()
    assert model.api_token_encrypted == stored


def test_missing_or_bad_key_fails_the_system_check(settings):
    settings.ENCRYPTION_KEYS = []
    errors = encryption_keys_configured(None)
    assert [e.id for e in errors] == ["providers.E001"]
    assert isinstance(errors[0], checks.Error)
    assert "generate_encryption_key" in errors[0].msg
    settings.ENCRYPTION_KEYS = ["a:short"]
    assert encryption_keys_configured(None)[0].id == "providers.E001"
    settings.ENCRYPTION_KEYS = [KEY_A]
    assert encryption_keys_configured(None) == []


def test_manage_py_refuses_to_start_without_key(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "x" * 50,
        "ENCRYPTION_KEYS": "",
        "DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=env,
        capture_output=True,
        text=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert result.returncode != 0
    assert "providers.E001" in result.stderr and "ENCRYPTION_KEYS is not set" in result.stderr


def test_generate_encryption_key_works_before_any_key_exists(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "",
        "ENCRYPTION_KEYS": "",
        "DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "generate_encryption_key", "--id", "first"],
        env=env,
        capture_output=True,
        text=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert result.returncode == 0, result.stderr
    assert crypto.parse_keys([result.stdout.strip()]).primary_id == "first"


def test_generate_encryption_key_prints_a_usable_key(settings):
    out = io.StringIO()
    call_command("generate_encryption_key", "--id", "k2", stdout=out)
    key = out.getvalue().strip()
    settings.ENCRYPTION_KEYS = [key]
    assert crypto.decrypt(crypto.encrypt("x", "c"), "c") == "x"


@pytest.mark.django_db
def test_rotation_moves_every_value_and_leaves_them_readable(keys, settings):
    models = [create_model(display_name=f"m{i}", token=f"hf_token{i:04d}abcdef") for i in range(7)]
    provider = ProviderSettings.load()
    provider.set_secret("api_token", TOKEN)
    provider.save()
    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]  # new key first, old key still there
    out = io.StringIO()
    call_command("rotate_encryption_key", "--batch-size", "3", stdout=out)
    assert "8 value(s) moved from key a to key b" in out.getvalue()
    settings.ENCRYPTION_KEYS = [KEY_B]  # old key removed
    for i, model in enumerate(models):
        model.refresh_from_db()
        assert model.api_token_encrypted.startswith("v1:b:")
        assert model.get_secret("api_token") == f"hf_token{i:04d}abcdef"
    assert ProviderSettings.load().get_secret("api_token") == TOKEN
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "Nothing to move" in out.getvalue()


@pytest.mark.django_db
def test_interrupted_rotation_reruns_cleanly(keys, settings, monkeypatch):
    for i in range(5):
        create_model(display_name=f"m{i}", token=f"hf_token{i:04d}abcdef")
    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]
    real_encrypt = crypto.encrypt
    calls = {"n": 0}

    def dying_encrypt(plaintext, context):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("operator pressed Ctrl-C")
        return real_encrypt(plaintext, context)

    monkeypatch.setattr(crypto, "encrypt", dying_encrypt)
    with pytest.raises(KeyboardInterrupt):
        rotate(batch_size=2)
    monkeypatch.setattr(crypto, "encrypt", real_encrypt)
    ids = sorted(crypto.key_id_of(v) for v in HFModel.objects.values_list("api_token_encrypted", flat=True))
    assert ids == ["a", "a", "a", "b", "b"]  # the first batch committed, the interrupted one rolled back
    result = rotate(batch_size=2)
    assert result == {"moved": {"a": 3}, "unreadable": []}
    for i, model in enumerate(HFModel.objects.order_by("display_name")):
        assert model.get_secret("api_token") == f"hf_token{i:04d}abcdef"


@pytest.mark.django_db
def test_rotation_with_an_unreadable_value_exits_non_zero_and_keeps_it(keys, settings):
    model = create_model(token=TOKEN)
    settings.ENCRYPTION_KEYS = [KEY_B]  # the key that wrote it is gone
    with pytest.raises(CommandError, match="cannot be decrypted with the configured keys"):
        call_command("rotate_encryption_key", stdout=io.StringIO())
    before = model.api_token_encrypted
    model.refresh_from_db()
    assert model.api_token_encrypted == before


@pytest.mark.django_db
def test_rotation_with_the_right_key_id_and_wrong_key_bytes_exits_non_zero(keys, settings):
    model = create_model(token=TOKEN)
    provider = ProviderSettings.load()
    provider.set_secret("api_token", TOKEN)
    provider.save()
    settings.ENCRYPTION_KEYS = [crypto.generate_key("a")]  # same id, other bytes: every token unreadable
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"^2 token\(s\) cannot be decrypted with the configured keys") as info:
        call_command("rotate_encryption_key", stdout=out)
    assert f"HFModel #{model.pk}" in str(info.value) and "key id that matches" in str(info.value)
    assert "Nothing to move" not in out.getvalue()
    before = model.api_token_encrypted
    model.refresh_from_db()
    assert model.api_token_encrypted == before


def test_rotate_command_exits_non_zero_as_a_process_with_a_clear_line(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "x" * 50,
        "DATA_DIR": str(tmp_path),
        "ENCRYPTION_KEYS": KEY_A,
    }
    python = str(root / ".venv" / "bin" / "python")
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=root, env=env, check=True)
    script = (
        "import django; django.setup(); from tests.conftest import create_model; "
        "create_model(token='hf_abcdefgh12345678')"
    )
    subprocess.run([python, "-c", script], cwd=root, env=env, check=True)
    env["ENCRYPTION_KEYS"] = crypto.generate_key("a")
    done = subprocess.run(
        [python, "manage.py", "rotate_encryption_key"], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "cannot be decrypted with the configured keys" in done.stderr
    assert "Traceback" not in done.stderr and "Nothing to move" not in done.stdout


@pytest.mark.django_db(transaction=True)
def test_check_connections_exits_non_zero_on_an_unreadable_token(keys, settings):
    create_model(token=TOKEN)
    settings.ENCRYPTION_KEYS = [crypto.generate_key("a")]
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 model"):
        call_command("check_connections", stdout=out)
    assert "token_unreadable" in out.getvalue()
