"""A run's figures read the same live and reopened: whole milliseconds with the page's unit, tokens/s to one
decimal, finish reasons in words, in English and in Chinese."""

import pytest
from playwright.sync_api import expect

from tests.browser.scripted_runs import answer_runs_with
from tests.conftest import create_endpoint_model, login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIGURES = {
    "latency_ms": 4221.9,
    "ttft_ms": 250.4,
    "generated_tokens": 1234,
    "tokens_per_second": 12.345,
    "finish_reason": "length",
}


@pytest.mark.parametrize(
    ("language", "latency", "ttft", "tokens", "finish"),
    [
        ("en", "4,222 ms", "250 ms", "1,234", "length limit reached"),
        ("zh-hans", "4,222 毫秒", "250 毫秒", "1,234", "达到长度上限"),
    ],
)
def test_figures_have_one_format_and_words_in_the_pages_language(
    page, hf, provider_token, live_server, language, latency, ttft, tokens, finish
):
    member = make_user("mia", "Member")
    model = create_endpoint_model(hf.base, display_name="TGI")
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    lines = [
        {"type": "start", "model": "TGI", "stream": True, "run": None},
        {"type": "token", "text": "The sky"},
        {"type": "done", "figures": FIGURES},
    ]
    login(page, member.username)
    answer_runs_with(page, lines)
    page.select_option("#id_model", str(model.pk))
    page.fill("#id_prompt", "Why is the sky blue")
    page.click("#run")
    figure = page.locator("#figures [data-figure]")
    expect(page.locator('#figures [data-figure="latency"]')).to_have_text(latency)
    expect(page.locator('#figures [data-figure="ttft"]')).to_have_text(ttft)
    expect(page.locator('#figures [data-figure="tokens"]')).to_have_text(tokens)
    expect(page.locator('#figures [data-figure="rate"]')).to_have_text("12.3")
    expect(page.locator('#figures [data-figure="finish"]')).to_have_text(finish)
    assert figure.count() == 5


@pytest.mark.parametrize(
    ("language", "tokens", "rate"),
    [
        ("en", 3, "too quick to time"),  # a burst (a short tool call): tokens known, no span to time them over
        ("en", None, "not reported"),
        ("zh-hans", 3, "太快，无法计时"),
        ("zh-hans", None, "未报告"),
    ],
)
def test_a_rate_that_could_not_be_timed_says_why(page, hf, provider_token, live_server, language, tokens, rate):
    member = make_user("mia", "Member")
    model = create_endpoint_model(hf.base, display_name="TGI")
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    figures = {**FIGURES, "generated_tokens": tokens, "tokens_per_second": None}
    lines = [{"type": "start", "model": "TGI", "stream": True, "run": None}, {"type": "done", "figures": figures}]
    login(page, member.username)
    answer_runs_with(page, lines)
    page.select_option("#id_model", str(model.pk))
    page.fill("#id_prompt", "Why is the sky blue")
    page.click("#run")
    expect(page.locator('#figures [data-figure="rate"]')).to_have_text(rate)
