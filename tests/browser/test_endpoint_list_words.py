"""The endpoint picker says "could not read the list" when the control plane cannot be asked (never "this token sees
no Inference Endpoints"), shows why a failed endpoint failed, and "Use this endpoint" fills the repo id too."""

import pytest
from playwright.sync_api import expect

from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open_picker(page):
    page.goto("/settings/providers/huggingface/models/new/")
    page.check("input[name=endpoint_type][value=inference_endpoint]")
    page.click("button:has-text('Choose from my Inference Endpoints')")


def test_a_list_the_control_plane_would_not_give_is_not_called_empty(page, hf, admin_user, provider_token, settings):
    settings.HF_ENDPOINTS_API_URL = hf.base + "/no-such-api"
    login(page, admin_user.username)
    _open_picker(page)
    status = page.locator("#endpoint-picker .picker-status")
    expect(status).to_contain_text("could not be read")
    expect(status).not_to_contain_text("sees no Inference Endpoints")


def test_a_failed_endpoint_says_why_and_use_fills_the_repo_id(page, hf, admin_user, provider_token):
    hf.add_control_endpoint("alice", "broken", state="failed")
    hf.add_control_endpoint("alice", "chat-llama", repository="meta-llama/Llama-3.1-8B-Instruct")
    login(page, admin_user.username)
    _open_picker(page)
    expect(page.locator('tr[data-endpoint="alice/broken"]')).to_contain_text("Endpoint failed to deploy")
    page.locator('tr[data-endpoint="alice/chat-llama"] button:has-text("Use this endpoint")').click()
    expect(page.locator("#id_repo_id")).to_have_value("meta-llama/Llama-3.1-8B-Instruct")
