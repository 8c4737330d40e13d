"""What the API's tests share: a member's key, and a text-generation endpoint model named "paced"."""

import pytest

from providers.api import keys
from tests.conftest import create_endpoint_model


@pytest.fixture
def member_key(member_user):
    return keys.create(member_user, "script")[1]


@pytest.fixture
def text_model(hf, provider_token):
    return create_endpoint_model(hf.base, display_name="paced")
