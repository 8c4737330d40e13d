"""The playground's embeddings and rerank modes in headless Chromium: picking a model switches the form, the heat
map of cosine similarities (its diagonal 1.00) and the ranked documents appear, both runs reopen from history as
they were, in English and in Chinese; the heat map scrolls in its own box on a phone; the code panel's snippets
for both run as written against this console."""

import json
import re
import shutil

import pytest
from django.utils import translation
from playwright.sync_api import expect

from providers.api import keys
from providers.models import PlaygroundRun, RunStatus
from tests.browser.shots import keep
from tests.browser.snippets import SHELL, run_snippet
from tests.conftest import create_endpoint_model, create_model, login, make_user, wait_for
from tests.hf_emulator import overlap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXTS = ["The sky is blue", "The sea is blue", "Bread rises in the oven"]
QUERY = "what is deep learning"
DOCUMENTS = ["Paris is in France", "deep learning is machine learning", "what is learning to cook"]
BEST_FIRST = sorted(DOCUMENTS, key=lambda d: -overlap(QUERY, d))


@pytest.fixture
def models(hf, provider_token):
    create_model(display_name="A flan")  # first by name: the page opens on a generation model
    tei = create_endpoint_model(hf.add_engine("bge", "tei"), "bge", task="feature-extraction", path="")
    ranker = create_endpoint_model(hf.add_engine("ranker", "tei_rerank"), "ranker", task="text-ranking", path="")
    return tei, ranker


def expect_heat_map(page, size):
    expect(page.locator("#heatmap tbody td")).to_have_count(size * size)
    diagonal = page.locator("#heatmap td.diagonal")
    expect(diagonal).to_have_count(size)
    for i in range(size):
        expect(diagonal.nth(i)).to_have_text("1.00")
    expect(page.locator('#vectors-figures [data-figure="dimensions"]')).to_have_text("8")


def expect_ranking(page):
    expect(page.locator("#ranking .doc-text")).to_have_text(BEST_FIRST)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_both_modes_show_their_results_and_reopen_from_history(page, live_server, models, language):
    tei, ranker = models
    make_user("mia", "Member")
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    login(page, "mia")
    page.goto("/playground/")
    expect(page.locator("#id_prompt")).to_be_visible()
    expect(page.locator("#vectors-form")).to_be_hidden()

    page.select_option("#id_model", str(tei.pk))
    expect(page.locator("#id_prompt")).to_be_hidden()
    expect(page.locator("#id_texts")).to_be_visible()
    expect(page.locator("#id_query")).to_be_hidden()
    page.fill("#id_texts", "\n".join(TEXTS))
    page.click("#run-vectors")
    expect_heat_map(page, 3)
    with translation.override(language):
        caption = translation.gettext("Cosine similarity of each pair of texts")
        dimensions = translation.gettext("Dimensions")
    expect(page.locator("#heatmap caption")).to_have_text(caption)
    expect(page.locator("#vectors-figures dt").nth(1)).to_have_text(dimensions)
    expect(page.locator("#history .open-vector-run")).to_have_count(1)
    keep(page, f"playground-embeddings-{language}")

    page.select_option("#id_model", str(ranker.pk))
    expect(page.locator("#heatmap")).to_have_count(0)  # another model: the last result is gone
    expect(page.locator("#id_texts")).to_be_hidden()
    expect(page.locator("#id_query")).to_be_visible()
    page.fill("#id_query", QUERY)
    page.fill("#id_documents", "\n".join(DOCUMENTS))
    page.locator("#id_documents").press("Control+Enter")
    expect_ranking(page)
    widths = [
        float(w.rstrip("%"))
        for w in page.locator("#ranking .score-bar span").evaluate_all("spans => spans.map(s => s.style.width)")
    ]
    assert widths == sorted(widths, reverse=True) and widths[0] > 0
    keep(page, f"playground-rerank-{language}")
    expect(page.locator("#history .open-vector-run")).to_have_count(2)

    page.reload()
    page.locator("#history .open-vector-run").nth(1).click()  # the older run: the embeddings
    expect_heat_map(page, 3)
    expect(page.locator("#id_model")).to_have_value(str(tei.pk))
    expect(page.locator("#id_texts")).to_have_value("\n".join(TEXTS))
    page.locator("#history .open-vector-run").nth(0).click()
    expect_ranking(page)
    expect(page.locator("#id_query")).to_have_value(QUERY)
    expect(page.locator("#heatmap")).to_have_count(0)


def test_a_failed_run_says_what_happened_and_history_keeps_it_failed(page, hf, models):
    tei, _ranker = models
    make_user("mia", "Member")
    hf.fault(r"/srv/bge/embed", "status", status=503, body={"error": "overloaded"}, times=5)
    login(page, "mia")
    page.goto("/playground/")
    page.select_option("#id_model", str(tei.pk))
    page.fill("#id_texts", "one\ntwo")
    page.click("#run-vectors")
    error = page.locator("#vectors-error")
    expect(error).to_be_visible()
    expect(error.locator(".fix")).to_be_visible()
    shown = error.inner_text()
    expect(page.locator("#history .open-vector-run .badge.failed")).to_have_count(1)
    page.reload()
    page.locator("#history .open-vector-run").click()
    expect(page.locator("#vectors-error .fix")).to_be_visible()
    assert page.locator("#vectors-error").inner_text() == shown
    expect(page.locator("#heatmap")).to_have_count(0)


def test_a_slow_answer_says_what_it_waits_for_and_stop_ends_the_wait(page, hf, models):
    tei, _ranker = models
    make_user("mia", "Member")
    hf.fault(r"/srv/bge/embed", "slow", seconds=4)
    login(page, "mia")
    page.goto("/playground/")
    page.select_option("#id_model", str(tei.pk))
    page.fill("#id_texts", "one\ntwo")
    page.click("#run-vectors")
    expect(page.locator("#vectors-waiting")).to_have_text(re.compile(r"^Waiting for bge to answer… \d s$"))
    page.click("#stop-vectors")
    expect(page.locator("#vectors-waiting")).to_be_hidden()
    expect(page.locator("#vectors-error")).to_contain_text("Stopped.")
    expect(page.locator("#run-vectors")).to_be_enabled()
    # The server still ends the run: history shows it once it is saved, with its result.
    assert wait_for(lambda: PlaygroundRun.objects.filter(status=RunStatus.OK).exists(), 20)
    page.reload()
    page.locator("#history .open-vector-run").click()
    expect_heat_map(page, 2)


def test_the_heat_map_scrolls_in_its_own_box_on_a_phone(browser, live_server, models):
    tei, _ranker = models
    make_user("mia", "Member")
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10000)
    try:
        login(page, "mia")
        page.goto("/playground/")
        page.select_option("#id_model", str(tei.pk))
        page.fill("#id_texts", "\n".join(f"Sentence number {i} about the weather" for i in range(12)))
        page.click("#run-vectors")
        expect_heat_map(page, 12)
        scroll = page.locator(".heatmap-scroll")
        box = scroll.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert scroll.evaluate("node => node.scrollWidth > node.clientWidth")  # it scrolls, the page does not
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        size = page.locator("#heatmap td").first.evaluate("td => parseFloat(getComputedStyle(td).fontSize)")
        assert size >= 12
    finally:
        context.close()


def test_the_snippets_for_both_modes_run_as_written(page, live_server, models):
    tei, ranker = models
    member = make_user("mia", "Member")
    key = keys.create(member, "snippets")[1]
    login(page, "mia")
    page.goto("/playground/")
    page.select_option("#id_model", str(tei.pk))
    page.fill("#id_texts", "\n".join(TEXTS))
    page.click("#api-code summary")
    expect(page.locator("[data-snippet=hf]")).to_be_hidden()
    expect(page.locator("[data-snippet=requests]")).to_be_hidden()
    snippet = page.locator("#api-code-snippet")
    expect(snippet).to_contain_text(live_server.url + "/v1/embeddings")
    curl = snippet.inner_text()
    page.click("[data-snippet=openai]")
    expect(snippet).to_contain_text("client.embeddings.create(")
    printed = run_snippet(snippet.inner_text(), key).splitlines()
    assert [line.split()[:2] for line in printed] == [[str(i), "8"] for i in range(3)]
    if shutil.which("curl", path="/usr/bin:/bin"):
        answer = run_snippet(curl, key, SHELL)
        assert [d["index"] for d in json.loads(answer)["data"]] == [0, 1, 2], answer

    page.select_option("#id_model", str(ranker.pk))
    page.fill("#id_query", QUERY)
    page.fill("#id_documents", "\n".join(DOCUMENTS))
    expect(page.locator("[data-snippet=openai]")).to_be_hidden()
    expect(page.locator("[data-snippet=curl]")).to_have_attribute("aria-pressed", "true")
    expect(snippet).to_contain_text(live_server.url + "/v1/rerank")
    page.click("[data-snippet=requests]")
    expect(snippet).to_contain_text("requests.post(")
    printed = run_snippet(snippet.inner_text(), key).splitlines()
    assert [line.split(" ", 1)[1] for line in printed] == BEST_FIRST
    assert key not in page.content()
