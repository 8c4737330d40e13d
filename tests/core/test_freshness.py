"""Every configuration change moves the freshness number, in the same transaction; usage-only saves do not."""

import pytest
from django.contrib.auth.models import Group

from providers.core import freshness, roles
from providers.models import HFModel, ProviderSettings
from tests.conftest import create_model, make_user


def moved(change):
    before = freshness.current()
    change()
    return freshness.current() != before


@pytest.mark.django_db
def test_configuration_changes_move_the_number():
    user = make_user("uma", roles.MEMBER)
    model = create_model()
    assert moved(lambda: roles.set_role(user, roles.ADMIN))
    assert moved(lambda: setattr(user, "is_active", False) or user.save())
    assert moved(lambda: HFModel.objects.filter(pk=model.pk).first().save())
    assert moved(lambda: model.delete())
    assert moved(lambda: ProviderSettings.load().save())
    assert moved(lambda: Group.objects.get(name=roles.MEMBER).permissions.clear())


@pytest.mark.django_db
def test_recording_a_log_in_does_not_move_the_number():
    user = make_user("uma", roles.MEMBER)
    assert not moved(lambda: user.save(update_fields=["last_login"]))


@pytest.mark.django_db(transaction=True)
def test_the_number_survives_a_flushed_table():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM providers_freshness")
    assert freshness.current() == 0
    freshness.bump()
    assert freshness.current() == 1


def test_local_cache_reloads_when_the_number_moves_and_never_stores_stale_values():
    cache = freshness.LocalCache()
    loads = []

    def load(value):
        def inner():
            loads.append(value)
            return value

        return inner

    assert cache.get("k", load("a"), generation=1) == "a"
    assert cache.get("k", load("b"), generation=1) == "a"
    assert cache.get("k", load("c"), generation=2) == "c"
    assert cache.get("k", load("old"), generation=1) == "old"  # a slow request: loaded, not kept
    assert cache.get("k", load("d"), generation=2) == "c"
    assert loads == ["a", "c", "old"]
