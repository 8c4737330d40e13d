"""A new encryption key rolled out one instance at a time: new tokens stay under a key every running instance can
read until all of them hold the new one, and rotation refuses while one cannot read it."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from providers.core import crypto
from providers.models import Lease, ProviderSettings
from tests.conftest import OTHER_TOKEN, TOKEN

pytestmark = pytest.mark.django_db

K1 = crypto.generate_key("k1")
K2 = crypto.generate_key("k2")


def instance(name, keys, seen_ago=timedelta(0)):
    """The lease of a server process on `name` started with ENCRYPTION_KEYS=`keys`."""
    now = timezone.now()
    Lease.objects.update_or_create(
        pk=name,
        defaults={
            "host": name,
            "pid": 1,
            "started_at": now,
            "seen_at": now - seen_ago,
            "key_ids": [crypto.parse_keys([k]).primary_id for k in keys],
        },
    )


def save_token(token):
    provider = ProviderSettings.load()
    provider.set_secret("api_token", token)
    provider.save()
    return crypto.key_id_of(provider.api_token_encrypted)


def test_a_token_saved_on_a_restarted_instance_stays_readable_on_the_other(settings):
    instance("first", [K2, K1])
    instance("second", [K1])
    settings.ENCRYPTION_KEYS = [K2, K1]  # saved on the first
    assert save_token(TOKEN) == "k1"
    settings.ENCRYPTION_KEYS = [K1]  # read on the second
    assert ProviderSettings.load().get_secret("api_token") == TOKEN

    instance("second", [K2, K1])  # the second restarted with k2 too
    settings.ENCRYPTION_KEYS = [K2, K1]
    assert save_token(OTHER_TOKEN) == "k2"
    assert ProviderSettings.load().get_secret("api_token") == OTHER_TOKEN


def test_a_stale_lease_does_not_hold_the_new_key_back(settings):
    settings.RUN_STALE_SECONDS = 10
    instance("first", [K2, K1])
    instance("dead", [K1], seen_ago=timedelta(seconds=30))
    settings.ENCRYPTION_KEYS = [K2, K1]
    assert save_token(TOKEN) == "k2"


def test_rotation_refuses_while_a_running_instance_cannot_read_the_new_key(settings):
    settings.ENCRYPTION_KEYS = [K1]
    save_token(TOKEN)
    instance("first", [K2, K1])
    instance("second", [K1])
    settings.ENCRYPTION_KEYS = [K2, K1]
    with pytest.raises(CommandError, match=r"1 running instance\(s\) cannot read key k2: second \(pid 1\)"):
        call_command("rotate_encryption_key", stdout=io.StringIO())
    assert crypto.key_id_of(ProviderSettings.load().api_token_encrypted) == "k1"  # untouched

    instance("second", [K2, K1])
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "1 value(s) moved from key k1 to key k2" in out.getvalue()


def test_instances_lists_each_process_with_its_keys_and_the_key_new_tokens_get(settings):
    instance("first", [K2, K1])
    instance("second", [K1])
    settings.ENCRYPTION_KEYS = [K2, K1]
    out = io.StringIO()
    call_command("instances", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("first pid 1: keys k2, k1 (started ")
    assert lines[1].startswith("second pid 1: keys k1 (started ")
    assert lines[2] == "2 running server process(es); new tokens are encrypted with key k1."
