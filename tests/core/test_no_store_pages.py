"""Signed-in admin pages and model pages are sent with Cache-Control: no-store."""

import pytest
from django.urls import reverse

from tests.conftest import create_model

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["models_export", "audit_log", "huggingface", "provider_list", "people", "model_add"])
def test_signed_in_admin_responses_are_not_stored(admin_client, name):
    assert admin_client.get(reverse(name))["Cache-Control"] == "no-store"


def test_model_pages_are_not_stored(admin_client):
    model = create_model()
    for name in ("model_detail", "model_edit"):
        assert admin_client.get(reverse(name, args=[model.pk]))["Cache-Control"] == "no-store"
