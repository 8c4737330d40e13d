"""What a process keeps in memory for the playground (providers/core/cached.py) is reloaded as soon as it changes."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from providers.core import roles
from providers.models import ProviderSettings
from tests.conftest import OTHER_TOKEN
from tests.playground.test_playground import events, run

pytestmark = pytest.mark.django_db


def test_a_replaced_provider_token_is_sent_by_the_next_run(hf, member_client, hosted_model):
    assert events(run(member_client, hosted_model))[-1]["type"] == "done"  # the first token is cached now
    provider = ProviderSettings.load()
    provider.set_secret("api_token", "hf_revokedTOKEN000000000000")
    provider.save()
    assert events(run(member_client, hosted_model))[-1]["error"]["category"] == "invalid_token"
    provider.set_secret("api_token", OTHER_TOKEN)
    provider.save()
    assert events(run(member_client, hosted_model))[-1]["type"] == "done"
    assert hf.requests[-1]["headers"]["Authorization"] == f"Bearer {OTHER_TOKEN}"


def test_a_removed_permission_stops_the_next_run(hf, member_client, hosted_model):
    assert run(member_client, hosted_model).status_code == 200
    Group.objects.get(name=roles.MEMBER).permissions.clear()
    assert run(member_client, hosted_model).status_code == 403


def test_a_disabled_model_stops_the_next_run_and_a_new_one_is_usable_at_once(hf, member_client, hosted_model):
    assert run(member_client, hosted_model).status_code == 200
    hosted_model.enabled = False
    hosted_model.save()
    assert run(member_client, hosted_model).status_code == 400
    hosted_model.enabled = True
    hosted_model.save()
    assert run(member_client, hosted_model).status_code == 200


def test_a_deactivated_member_is_signed_out_at_once(hf, member_client, member_user, hosted_model):
    assert member_client.get(reverse("playground")).status_code == 200
    member_user.is_active = False
    member_user.save()
    assert member_client.get(reverse("playground")).status_code == 302
