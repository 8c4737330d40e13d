"""A member's run on a scaled-to-zero Inference Endpoint: the page says "Waking the endpoint… N s", counting, then
shows the answer; on a paused endpoint it says paused and who may resume it, without the proxy's raw words."""

import re

import pytest
from playwright.sync_api import expect

from providers.models import PlaygroundRun, RunStatus
from tests.browser.shots import keep
from tests.conftest import create_model, login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def endpoint_model(hf):
    return create_model(
        display_name="TGI",
        endpoint_type="inference_endpoint",
        repo_id="",
        task="text-generation",
        endpoint_url=hf.base + "/ep/tgi",
        engine="tgi",
    )


def seconds_shown(page):
    text = page.locator(".wait-line .waiting-text").text_content()
    match = re.search(r"Waking the endpoint… (\d+) s", text or "")
    return int(match.group(1)) if match else None


def test_a_member_wakes_a_scaled_to_zero_endpoint_and_sees_the_wait(page, hf, provider_token):
    member = make_user("mia", "Member")
    model = endpoint_model(hf)
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=4)
    login(page, member.username)
    page.select_option("#id_model", str(model.pk))
    page.fill("#id_prompt", "Why is the sky blue")
    page.click("#run")
    line = page.locator(".wait-line .waiting-text")
    expect(line).to_contain_text(re.compile(r"Waking the endpoint… \d+ s"))
    first = seconds_shown(page)
    keep(page, "playground-waking-endpoint")
    page.wait_for_function(
        """first => {
          const line = document.querySelector(".wait-line .waiting-text").textContent;
          const m = /Waking the endpoint… (\\d+) s/.exec(line);
          return m && Number(m[1]) > first;
        }""",
        arg=first,
        timeout=5000,
    )
    expect(page.locator("#output")).to_contain_text("The sky is blue", timeout=15000)
    expect(page.locator(".wait-line")).to_be_hidden()
    run = PlaygroundRun.objects.get()
    assert run.status == RunStatus.OK


def test_a_member_is_told_a_paused_endpoint_needs_resuming(page, hf, provider_token):
    member = make_user("mia", "Member")
    model = endpoint_model(hf)
    hf.add_endpoint("tgi", state="paused")
    login(page, member.username)
    page.select_option("#id_model", str(model.pk))
    page.fill("#id_prompt", "Why is the sky blue")
    page.click("#run")
    error = page.locator("#error")
    expect(error).to_have_attribute("data-category", "endpoint_paused")
    expect(error).to_contain_text("Endpoint paused")
    expect(error).to_contain_text("resume")
    assert "Invalid state" not in error.text_content() and "Service Unavailable" not in error.text_content()


def test_the_wait_is_said_in_chinese_too(page, hf, provider_token, live_server):
    member = make_user("mia", "Member")
    model = endpoint_model(hf)
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=2.5)
    page.context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": live_server.url}])
    login(page, member.username)
    page.select_option("#id_model", str(model.pk))
    page.fill("#id_prompt", "Why is the sky blue")
    page.click("#run")
    expect(page.locator(".wait-line .waiting-text")).to_have_text(re.compile(r"^正在唤醒端点… \d+ 秒$"))
    expect(page.locator("#output")).to_contain_text("The sky is blue", timeout=15000)
