"""The console in real headless Chromium: first run, admin screens, test connection, the playground."""

import re

import pytest
from playwright.sync_api import expect

from providers.models import HFModel, PlaygroundRun
from tests.browser.scripted_runs import answer_runs_with
from tests.conftest import PASSWORD, TOKEN, create_endpoint_model, create_model, login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_first_run_setup_login_and_navigation(page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup/$"))
    page.fill("#id_username", "root")
    page.fill("#id_email", "root@example.com")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("#setup-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/settings/providers/$"))
    expect(page.locator("#provider-huggingface")).to_contain_text("Hugging Face")
    page.click("header form button:has-text('Log out')")
    login(page, "root")
    expect(page.locator(".whoami")).to_have_text("root")
    page.click("#provider-huggingface")
    expect(page.locator("h1")).to_contain_text("Hugging Face")
    page.click("nav.mainnav >> text=Playground")
    expect(page.locator("h1")).to_contain_text("Playground")
    page.wait_for_load_state("load")  # the script that submits the switch has run
    page.select_option("#language", "zh-hans")  # submits itself, no separate button
    expect(page.locator("nav.mainnav")).to_contain_text("体验场")
    page.goto("/setup/")
    expect(page.locator(".error-code")).to_have_text("404")
    expect(page.locator("nav.mainnav")).to_be_visible()  # the error page keeps the header and navigation


def test_admin_adds_one_model_of_each_type(page, hf, admin_user, provider_token, settings):
    login(page, admin_user.username)
    page.goto("/settings/providers/huggingface/models/new/")
    url_field = page.locator('[data-field="endpoint_url"]')
    # Hosted Inference API: the endpoint URL stays hidden.
    page.check("input[name=endpoint_type][value=hosted_api]")
    expect(url_field).to_be_hidden()
    page.fill("#id_display_name", "Flan T5")
    page.select_option("#id_task", "text2text-generation")
    page.fill("#id_repo_id", "google flan")  # invalid: an inline error, typed values kept
    page.fill("#id_api_token", TOKEN)
    page.click("button[type=submit]:has-text('Save')")
    expect(page.locator('[data-errors-for="repo_id"]')).to_contain_text("namespace/name")
    expect(page.locator("#id_display_name")).to_have_value("Flan T5")
    expect(page.locator("#id_api_token")).to_have_value("")
    page.fill("#id_repo_id", "google/flan-t5-base")
    page.fill("#id_api_token", TOKEN)
    page.click("button[type=submit]:has-text('Save')")
    expect(page.locator(".masked-token")).to_have_text(f"hf_…{TOKEN[-4:]}")
    assert TOKEN not in page.content()

    # Inference Endpoint: choosing it shows the URL field without a reload.
    page.goto("/settings/providers/huggingface/models/new/")
    expect(url_field).to_be_hidden()
    page.check("input[name=endpoint_type][value=inference_endpoint]")
    expect(url_field).to_be_visible()
    page.fill("#id_display_name", "Our TGI")
    page.select_option("#id_task", "text-generation")
    page.fill("#id_endpoint_url", hf.base + "/ep/tgi")
    page.click("button[type=submit]:has-text('Save')")
    expect(page.locator("h1")).to_have_text("Our TGI")

    # Inference Providers: chat is the only task offered.
    page.goto("/settings/providers/huggingface/models/new/")
    page.check("input[name=endpoint_type][value=inference_providers]")
    expect(url_field).to_be_hidden()
    expect(page.locator("#id_task option[value=chat]")).to_be_enabled()
    expect(page.locator("#id_task option[value=text-generation]")).to_be_disabled()
    page.fill("#id_display_name", "Llama")
    page.fill("#id_repo_id", "meta-llama/Llama-3.1-8B-Instruct:together")
    page.click("button[type=submit]:has-text('Save')")
    expect(page.locator("h1")).to_have_text("Llama")
    assert set(HFModel.objects.values_list("endpoint_type", flat=True)) == {
        "hosted_api",
        "inference_endpoint",
        "inference_providers",
    }
    page.goto("/settings/providers/huggingface/")
    expect(page.locator("#models tbody tr.model-row")).to_have_count(3)


def test_test_connection_from_the_form_shows_success_and_a_precise_failure(page, hf, admin_user, provider_token):
    login(page, admin_user.username)
    page.goto("/settings/providers/huggingface/models/new/")
    page.check("input[name=endpoint_type][value=hosted_api]")
    page.fill("#id_display_name", "Flan")
    page.select_option("#id_task", "text2text-generation")
    page.fill("#id_repo_id", "google/flan-t5-base")
    hf.first_token_delay = 0
    hf.response_delay = 0.4  # long enough to see the progress state
    page.click("#test-form")
    expect(page.locator("#test-form")).to_be_disabled()
    expect(page.locator("#test-result")).to_have_class(re.compile("ok"))
    expect(page.locator("#test-result")).to_contain_text("Connection works")
    expect(page.locator("#test-result")).to_contain_text("The sky is blue because")
    hf.response_delay = 0
    page.fill("#id_repo_id", "nobody/missing")
    page.click("#test-form")
    expect(page.locator("#test-result")).to_have_attribute("data-category", "model_not_found")
    expect(page.locator("#test-result .fix")).to_contain_text("Check the repo id")
    assert not HFModel.objects.exists()  # nothing saved by testing
    assert page.url.endswith("/models/new/")  # no reload
    # A test of the values that are then saved becomes the model's first history entry.
    page.fill("#id_repo_id", "google/flan-t5-base")
    page.click("#test-form")
    expect(page.locator("#test-result")).to_have_attribute("data-category", "ok")
    page.click("button[type=submit]:has-text('Save')")
    expect(page.locator("h1")).to_have_text("Flan")
    expect(page.locator("#detail-last-test")).to_contain_text("works")
    assert HFModel.objects.get().tests.count() == 1


def test_member_streams_stops_reopens_and_compares(page, hf, provider_token):
    member = make_user("mia", "Member")
    tgi = create_model(
        display_name="TGI",
        endpoint_type="inference_endpoint",
        repo_id="",
        task="text-generation",
        endpoint_url=hf.base + "/ep/tgi",
    )
    create_model(
        display_name="Llama chat",
        endpoint_type="inference_providers",
        task="chat",
        repo_id="meta-llama/Llama-3.1-8B-Instruct",
    )
    login(page, member.username)
    expect(page).to_have_url(re.compile(r"/playground/$"))
    expect(page.locator("nav.mainnav")).not_to_contain_text("Model Providers")
    page.select_option("#id_model", str(tgi.pk))
    page.fill("#id_prompt", "Why is the sky blue")
    page.fill("#id_max_new_tokens", "12")
    hf.token_delay = 0.12
    page.click("#run")
    output = page.locator("#output")
    expect(output).to_have_text(re.compile(r"^The sky"))
    partial = output.text_content()
    expect(output).to_have_text("The sky is blue because molecules in the air scatter blue light")
    assert len(partial) < len(output.text_content())  # it grew while the run went on
    expect(page.locator('#figures [data-figure="ttft"]')).to_be_visible()
    expect(page.locator('#figures [data-figure="tokens"]')).to_have_text("12")
    expect(page.locator('#figures [data-figure="finish"]')).to_have_text("length limit reached")

    # Stop a long run.
    page.fill("#id_max_new_tokens", "150")
    page.click("#run")
    expect(output).to_have_text(re.compile(r"^The sky is"))
    page.click("#stop")
    expect(page.locator("#error")).to_have_attribute("data-category", "stopped")
    stopped_at = len(output.text_content())
    page.wait_for_timeout(500)
    assert len(output.text_content()) == stopped_at
    assert stopped_at < 300

    # Reopen the first run from history.
    hf.token_delay = 0
    page.reload()
    first = PlaygroundRun.objects.order_by("created_at").first()
    page.click(f'#history li[data-run="{first.pk}"] .open-run')
    expect(page.locator("#id_prompt")).to_have_value("Why is the sky blue")
    expect(page.locator("#id_max_new_tokens")).to_have_value("12")
    expect(output).to_have_text("The sky is blue because molecules in the air scatter blue light")

    # Compare two models side by side.
    page.click("#to-compare")
    page.check("input[name=compare_model] >> nth=0")
    page.check("input[name=compare_model] >> nth=1")
    page.fill("#id_prompt", "Why is the sky blue")
    page.fill("#id_max_new_tokens", "4")
    page.click("#run-compare")
    columns = page.locator("#compare-columns .column")
    expect(columns).to_have_count(2)
    for i in range(2):
        expect(columns.nth(i).locator(".output")).to_have_text("The sky is blue")
        expect(columns.nth(i).locator('[data-figure="latency"]')).to_be_visible()


def test_test_connection_streams_its_steps_in_the_row_and_can_be_cancelled(page, hf, admin_user, provider_token):
    flan = create_model(display_name="Flan")
    gpt2 = create_model(
        display_name="GPT-2 chat", endpoint_type="inference_providers", task="chat", repo_id="openai-community/gpt2"
    )
    login(page, admin_user.username)
    page.goto("/settings/providers/huggingface/")
    hf.response_delay = 0.6  # each upstream call is slow: the steps arrive one by one
    page.click(f"#model-{flan.pk} button[data-test-url]")
    box = page.locator(f"#test-{flan.pk} .test-result")
    expect(box).to_have_class(re.compile("running"))
    expect(box.locator(".steps li")).to_have_count(1)  # the token step, before the others are done
    expect(box.locator(".elapsed")).to_be_visible()
    expect(box).to_have_class(re.compile(r"\bok\b"), timeout=10000)
    expect(page.locator(f"#model-{flan.pk} .last-test")).to_contain_text("works")
    # A failure is worded for the endpoint type in use, in its own row; the first result stays.
    hf.response_delay = 0
    page.click(f"#model-{gpt2.pk} button[data-test-url]")
    failed = page.locator(f"#test-{gpt2.pk} .test-result")
    expect(failed).to_have_attribute("data-category", "model_not_served")
    expect(failed.locator(".fix")).to_contain_text("Change the endpoint type to Hosted Inference API")
    assert "model_not_served" not in failed.inner_text()  # the code stays in the closed details
    expect(box).to_have_class(re.compile(r"\bok\b"))
    # Cancel a slow test.
    hf.response_delay = 2
    page.click(f"#model-{flan.pk} button[data-test-url]")
    box.locator("button.cancel").click()
    expect(box).to_have_attribute("data-category", "cancelled")
    hf.response_delay = 0


def test_playground_reads_wait_heartbeats_and_says_what_it_waits_for(page, hf, provider_token):
    """#11's server sends {"type": "wait"} lines while the upstream is silent; here the browser is handed such
    a stream directly, since this branch's server does not emit them."""
    member = make_user("mia", "Member")
    model = create_endpoint_model(hf.base, display_name="TGI")
    lines = [
        {"type": "start", "model": "TGI", "stream": True},
        {"type": "wait", "waited_ms": 1000},
        {"type": "wait", "waited_ms": 2000},
        {"type": "token", "text": "The sky"},
        {
            "type": "done",
            "figures": {
                "latency_ms": 2100.0,
                "ttft_ms": 2050.0,
                "generated_tokens": None,
                "tokens_per_second": None,
                "finish_reason": "",
            },
        },
    ]
    login(page, member.username)
    answer_runs_with(page, lines)
    page.select_option("#id_model", str(model.pk))
    page.fill("#id_prompt", "Why is the sky blue")
    page.click("#run")
    expect(page.locator("#output")).to_have_text("The sky")
    expect(page.locator("#waiting")).to_be_hidden()
    expect(page.locator('#figures [data-figure="tokens"]')).to_have_text("not reported")
    expect(page.locator('#figures [data-figure="rate"]')).to_have_text("not reported")
    expect(page.locator("#run")).to_be_enabled()
