"""Finding, saving, testing and waking models and endpoints through the pickers in headless Chromium.

The journey in headless Chromium: find a served model by typing, save and test it; pick an endpoint from the
account, resume it, watch it come up, save and test it; wake an endpoint from its page after a failed test."""

import re

import pytest
from playwright.sync_api import expect

from providers.models import HFModel
from tests.conftest import TOKEN, create_endpoint_model, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def account(hf):
    hf.provider_details["meta-llama/Llama-3.1-8B-Instruct"] = {
        "together": {"context_length": 131072, "pricing": {"input": 0.18, "output": 0.18}, "supports_tools": True}
    }
    hf.add_control_endpoint("alice", "sleepy", state="paused")
    hf.add_control_endpoint("alice", "cold", state="scaled_to_zero")
    return hf


def test_pick_a_served_model_then_an_endpoint_resume_it_and_test_both(page, account, admin_user, provider_token):
    login(page, admin_user.username)
    page.goto("/settings/providers/huggingface/models/new/")
    page.check("input[name=endpoint_type][value=inference_providers]")
    picker = page.locator("#picker-q")
    picker.type("llam", delay=30)
    option = page.locator("#picker-results [role=option]").first
    expect(option).to_contain_text("meta-llama/Llama-3.1-8B-Instruct")
    expect(option).to_contain_text("together")
    expect(option).to_contain_text("131,072")
    expect(option).to_contain_text("$0.18 / $0.18")
    expect(option).to_contain_text("this token has access")
    picker.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    picker.press("Enter")  # chooses; never submits the form
    expect(page.locator("#id_repo_id")).to_have_value("meta-llama/Llama-3.1-8B-Instruct")
    expect(page.locator("input[name=endpoint_type][value=inference_providers]")).to_be_checked()
    expect(page.locator("#id_task")).to_have_value("chat")
    page.select_option("#picker-policy", "together")
    expect(page.locator("#id_repo_id")).to_have_value("meta-llama/Llama-3.1-8B-Instruct:together")
    page.fill("#id_display_name", "Llama picked")
    page.click("button[type=submit]:has-text('Save')")
    expect(page.locator("h1")).to_have_text("Llama picked")
    page.click("button:has-text('Test connection')")
    expect(page.locator("#test-result")).to_contain_text("Connection works")

    page.goto("/settings/providers/huggingface/models/new/")
    page.check("input[name=endpoint_type][value=inference_endpoint]")
    page.click("button:has-text('Choose from my Inference Endpoints')")
    row = page.locator('tr[data-endpoint="alice/sleepy"]')
    expect(row).to_contain_text("paused")
    row.locator("button:has-text('Resume')").click()
    expect(row).to_contain_text("initializing")
    expect(row.locator(".badge[data-state=running]").first).to_be_visible(timeout=15000)
    row.locator("button:has-text('Use this endpoint')").click()
    expect(page.locator("#id_endpoint_url")).to_have_value(account.base + "/ep/sleepy")
    expect(page.locator("#id_display_name")).to_have_value("sleepy")
    expect(page.locator("#id_task")).to_have_value("text-generation")
    page.click("button[type=submit]:has-text('Save')")
    expect(page.locator("h1")).to_have_text("sleepy")
    page.click("button:has-text('Test connection')")
    expect(page.locator("#test-result")).to_contain_text("Connection works")
    expect(page.locator("#test-result")).to_contain_text("text-generation-inference (TGI)")
    assert HFModel.objects.get(display_name="sleepy").engine == "tgi"
    assert TOKEN not in page.content()


def test_wake_from_the_model_page_after_a_failed_test(page, account, admin_user, provider_token):
    model = create_endpoint_model(account.base, "cold", path="/ep/cold")
    account.boot_seconds = 60  # stays initializing past the test's wake (HF_SCALE_UP_TIMEOUT, 8 s in tests)
    login(page, admin_user.username)
    page.goto(f"/settings/providers/huggingface/models/{model.pk}/")
    box = page.locator("#endpoint-actions")
    expect(box).to_contain_text("scaled to zero")
    page.click("button:has-text('Test connection')")
    expect(page.locator("#test-result .countdown")).to_contain_text(re.compile(r"Waking the endpoint… \d+ s"))
    result = page.locator("#test-result")
    expect(result).to_have_attribute("data-category", "endpoint_waking", timeout=15000)
    expect(result).to_contain_text("Endpoint still waking")
    # The test woke it and it goes on starting.
    expect(box).to_contain_text("initializing")
    account.endpoints["cold"]["state"] = "scaled_to_zero"
    page.reload()
    box.locator("button:has-text('Wake up')").click()
    expect(box).to_contain_text(re.compile("Waiting for the endpoint"))
    box.locator("button:has-text('Stop watching')").click()
    expect(box).to_contain_text("Stopped watching")


def test_a_failed_test_in_the_form_points_at_the_endpoint_to_resume(page, account, admin_user, provider_token):
    login(page, admin_user.username)
    page.goto("/settings/providers/huggingface/models/new/")
    page.check("input[name=endpoint_type][value=inference_endpoint]")
    page.fill("#id_display_name", "sleepy")
    page.select_option("#id_task", "text-generation")
    page.fill("#id_endpoint_url", account.base + "/ep/sleepy")
    page.click("#test-form")
    expect(page.locator("#test-result")).to_have_attribute("data-category", "endpoint_paused")
    row = page.locator('tr.current[data-endpoint="alice/sleepy"]')
    expect(row).to_contain_text("paused")
    row.locator("button:has-text('Resume')").click()
    expect(row.locator(".badge[data-state=running]").first).to_be_visible(timeout=15000)
    page.click("#test-form")
    expect(page.locator("#test-result")).to_contain_text("Connection works")


def test_picker_pages_with_more_results_and_closes_with_escape(page, account, admin_user, provider_token):
    for n in range(25):
        account.add_model(f"acme/chat-{n:02d}", warm=False, tags=["conversational"], providers={"together": "live"})
    login(page, admin_user.username)
    page.goto("/settings/providers/huggingface/models/new/")
    page.check("input[name=endpoint_type][value=inference_providers]")
    page.locator("#picker-q").type("acme", delay=30)
    options = page.locator("#picker-results [role=option]")
    expect(options).to_have_count(20)
    page.click(".picker-more")
    expect(options).to_have_count(25)
    expect(page.locator(".picker-more")).to_be_hidden()
    page.locator("#picker-q").press("Escape")
    expect(page.locator("#picker-results")).to_be_hidden()
    page.locator("#picker-q").fill("zzzz-nothing")
    expect(page.locator("#model-picker .picker-status")).to_have_text("No model on the Hub matches.")


def test_pick_an_embedding_model_served_by_a_provider_save_and_test_it(page, hf, admin_user, provider_token):
    hf.add_model(
        "BAAI/bge-large-en-v1.5",
        pipeline_tag="feature-extraction",
        warm=False,
        providers={"together": {"status": "live", "task": "feature-extraction", "providerId": "bge-large"}},
    )
    login(page, admin_user.username)
    page.goto("/settings/providers/huggingface/models/new/")
    page.check("input[name=endpoint_type][value=inference_providers]")
    page.locator("#picker-q").type("bge", delay=30)
    page.select_option("#id_task", "feature-extraction")  # a new task searches again, for embedding models
    option = page.locator("#picker-results [role=option]").first
    expect(option).to_contain_text("BAAI/bge-large-en-v1.5")
    expect(option).to_contain_text("together")
    option.dispatch_event("mousedown")
    expect(page.locator("#id_repo_id")).to_have_value("BAAI/bge-large-en-v1.5")
    expect(page.locator("#id_task")).to_have_value("feature-extraction")
    page.fill("#id_display_name", "bge picked")
    page.click("button[type=submit]:has-text('Save')")
    expect(page.locator("h1")).to_have_text("bge picked")
    page.click("button:has-text('Test connection')")
    expect(page.locator("#test-result")).to_contain_text("Connection works")
    expect(page.locator("#test-result")).to_contain_text("8 dimensions")
    page.reload()
    expect(page.locator("#vector-dimensions")).to_have_text("8")
