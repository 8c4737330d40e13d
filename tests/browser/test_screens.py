"""Every page in both languages and two widths shows no raw code, Python value or untranslated string.

Every page in English and 简体中文, at desktop (1280 px) and phone (390 px) width: a full-page screenshot each
(`make screenshots` keeps them in screenshots/), and in the visible text (code and snippets aside) no raw category
code, snake_case identifier, setting name (only an admin's hint may name one), Python literal or, on a Chinese page,
English words outside the allow-list; no page wider than the screen, and a run's answer in view after it arrives."""

import os
import re
from pathlib import Path

import polib
import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from playwright.sync_api import expect

from providers.api import keys
from providers.core import audit
from providers.huggingface.errors import CATEGORIES
from providers.models import ConnectionTest, HFModel, PlaygroundRun, ProviderSettings
from providers.settings_screen import token_check
from tests.conftest import create_endpoint_model, create_model, login, make_user
from tests.hf_emulator import WORDS as ANSWER_WORDS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CATALOG = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
WIDTHS = {"desktop": 1280, "phone": 390}
LITERALS = re.compile(r"\b(None|True|False)\b|\[[^\]\n]*\]")
CODES = re.compile(
    r"\b(" + "|".join(sorted(CATEGORIES, key=len, reverse=True)) + r")\b"  # failure categories
    r"|\b(?:model|models|provider|person|account|api_key|endpoint)\.[a-z_]+\b"  # audit action codes
)


def english_sentences():
    """English strings that have a different Chinese translation: none may show on a Chinese page."""
    found = set()
    catalog = polib.pofile(str(CATALOG))
    kept = " | ".join(e.msgstr for e in catalog)  # product names (Inference Providers) stay English in Chinese
    for entry in catalog:
        text = entry.msgid
        if entry.msgid_plural or "%" in text or entry.msgstr == text or "{" in text:
            continue
        if len(text) >= 8 and re.search(r"[A-Za-z]{3,} [A-Za-z]{2,}", text) and text not in kept:
            found.add(text)
    return found


# English that may stay on a Chinese page: the data the journey creates, product names, the language's own name.
KEPT_ENGLISH = (
    "openai-community/gpt2 is not a chat model; only the Hosted Inference API serves it.",  # stored in English
    "Why is the sky blue?",
    "And at sunset?",
    "Because of Rayleigh scattering.",
    "The sky is blue because",
    "molecules in the air scatter blue light from the sun more than red light",
    "Hugging Face",
    "Inference Providers",
    "Inference Endpoints",
    "Inference Endpoint",
    "Hosted Inference API",
    "English",
    "Model console",
)
ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}(?:[ ,'’]+[A-Za-z]{2,}){2,}")  # three English words in a row
IDENTIFIER = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")  # endpoint_paused_or_starting, inference_endpoint
SETTING_NAME = re.compile(r"\b[A-Z]{2,}_[A-Z_]+\b")  # HF_READ_TIMEOUT, OUTBOUND_ALLOWED_HOSTS
# Not words to translate: ids, hosts, URLs, versions, prices, units (anything with a digit or . / : _ @ - in it).
NOT_A_WORD = re.compile(r"\S*[0-9./:_@\-]\S*")
LONG_WORD = re.compile(r"[A-Za-z]{4,}")
# Long English words a Chinese page may show: product and company names, engines, providers, the journey's own data
# (model display names, people, key names, prompts and answers), the language's own name.
ALLOWED_WORDS = {
    *"Hugging Face Inference Providers Endpoints Endpoint Hosted English".split(),
    *"together groq fireworks novita cerebras sambanova nebius featherless".split(),
    *"Flan Llama chat Old endpoint Our notebook script alice sleepy".split(),
    *"OpenAI LangChain Python curl JavaScript".split(),
    *(word for word in ANSWER_WORDS if len(word) > 3),
    # terms the translation keeps on purpose: the unit "token", protocol and format names, the API's field and
    # parameter names beside their Chinese (温度（temperature）)
    *"token Token HTTP JSON temperature repetition penalty model".split(),
}


def visible_text(page):
    """The page's visible text nodes, each with whether it sits in code (snippets, ids) or in an admin's hint, or
    is an upstream's own words (said to be the server's): those are not checked for words."""
    return page.evaluate(
        """() => {
        const found = [];
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          const text = node.nodeValue.trim();
          const el = node.parentElement;
          if (!text || !el || el.closest("script, style, template, noscript, option")) continue;
          if (!el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
          found.push({text: text, code: !!el.closest("code, pre, kbd, samp, .mono, textarea, q.upstream-text"),
                      hint: !!el.closest(".admin-hint")});
        }
        return found;
      }"""
    )


def text_problems(nodes, language, admin):
    """Raw identifiers and setting names (members never, admins only in their hint) and, on a Chinese page, long
    English words outside the allow-list, in the visible text that is not code."""
    problems = []
    for node in nodes:
        if node["code"]:
            continue
        text = node["text"]
        problems += [f"identifier: {m.group(0)}" for m in IDENTIFIER.finditer(text)]
        if not (admin and node["hint"]):
            problems += [f"setting name: {m.group(0)}" for m in SETTING_NAME.finditer(text)]
        if language == "zh-hans" and not node["hint"]:
            rest = text
            for kept in KEPT_ENGLISH:
                rest = rest.replace(kept, " ")
            words = LONG_WORD.findall(NOT_A_WORD.sub(" ", rest))
            problems += [f"English: {w} (in “{text[:80]}”)" for w in words if w not in ALLOWED_WORDS]
    return problems


def answer_in_view(page, locator):
    """The answer's box is (at least partly) on the screen, not above or below it."""
    box = locator.bounding_box()
    height = page.evaluate("window.innerHeight")
    return box is not None and box["y"] + box["height"] > 0 and box["y"] < height


def visible_problems(text, language):
    problems = [f"code: {m.group(0)}" for m in CODES.finditer(text)]
    problems += [f"literal: {m.group(0)}" for m in LITERALS.finditer(text)]
    if language == "zh-hans":
        problems += [f"untranslated: {s}" for s in english_sentences() if s in text]
        rest = text
        for kept in KEPT_ENGLISH:
            rest = rest.replace(kept, " ")
        problems += [f"English words: {m.group(0)}" for m in ENGLISH_RUN.finditer(rest)]
    return problems


def build_console(hf):
    admin = make_user("ada", "Admin")
    member = make_user("mia", "Member")
    flan = create_model(display_name="Flan T5")
    gpt2 = create_model(
        display_name="GPT-2 chat",
        endpoint_type="inference_providers",
        task="chat",
        repo_id="openai-community/gpt2",
    )
    tgi = create_endpoint_model(hf.base, display_name="Our TGI", path="/ep/tgi")
    llama = create_model(
        display_name="Llama chat",
        endpoint_type="inference_providers",
        task="chat",
        repo_id="meta-llama/Llama-3.1-8B-Instruct:together",
        max_new_tokens=64,
        temperature=0.7,
    )
    create_model(display_name="Old endpoint", endpoint_type="hosted_api", enabled=False, repo_id="org/old-model")
    ok = ConnectionTest.objects.create(
        model=flan, ok=True, http_status=200, latency_ms=412, sample_output="The sky is blue because", steps=[]
    )
    failed = ConnectionTest.objects.create(
        model=gpt2,
        ok=False,
        category="model_not_served",
        message="openai-community/gpt2 is not a chat model; only the Hosted Inference API serves it.",
        http_status=None,
        latency_ms=230,
    )
    HFModel.objects.filter(pk=flan.pk).update(last_test=ok)
    HFModel.objects.filter(pk=gpt2.pk).update(last_test=failed)
    for model, status in ((flan, "ok"), (flan, "failed"), (tgi, "ok")):
        PlaygroundRun.objects.create(
            user=member,
            model=model,
            model_name=model.display_name,
            prompt="Why is the sky blue?",
            output="Because of Rayleigh scattering." if status == "ok" else "",
            status=status,
            error_category="" if status == "ok" else "upstream_error",
            error_message="" if status == "ok" else "boom",
            latency_ms=812.5,
        )
    audit.record(None, "model.create", llama, {"display_name": {"from": None, "to": "Llama chat"}, "enabled": True})
    audit.record(
        None,
        "model.update",
        flan,
        {"enabled": {"from": True, "to": False}, "stop_sequences": {"from": [], "to": ["\n"]}},
    )
    audit.record(None, "model.test", gpt2, {"model": "GPT-2 chat", "ok": False, "category": "model_not_served"})
    audit.record(None, "provider.token_replaced", None, {"api_token": "token replaced"})
    # main's pages: personal API keys (one revoked), a locked-out person, endpoint actions in the audit log
    key, _raw = keys.create(member, "notebook", expires_in_days=30)
    old, _raw = keys.create(admin, "old script")
    keys.revoke(old)
    audit.record(None, "api_key.create", key, {"prefix": key.prefix, "expires_at": str(key.expires_at)})
    audit.record(None, "api_key.limits", key, {"requests_per_minute": {"from": "—", "to": 30}})
    audit.record(None, "endpoint.resume", tgi, {"endpoint": "alice/chat-llama", "state": "initializing"})
    audit.record(None, "endpoint.start_failed", tgi, {"endpoint": "alice/chat-llama", "category": "payment_required"})
    hf.add_control_endpoint("alice", "chat-llama", state="running", repository="meta-llama/Llama-3.1-8B-Instruct")
    # the model page's providers: two live, with prices, context and speed; the token card with its abilities
    llama_id = "meta-llama/Llama-3.1-8B-Instruct"
    hf.models[llama_id]["inferenceProviderMapping"]["groq"] = {"status": "live", "providerId": llama_id}
    hf.provider_details[llama_id] = {
        "together": {"context_length": 131072, "pricing": {"input": 0.18, "output": 0.18}, "throughput": 95.5},
        "groq": {"context_length": 16384, "pricing": {"input": 0.05, "output": 0.08}, "throughput": 310.0},
    }
    provider = ProviderSettings.load()
    provider.token_check = token_check.check(provider.get_secret("api_token"))
    provider.save()
    hf.add_control_endpoint("alice", "sleepy", state="paused")
    locked = make_user("lou", "Member")
    AccessAttempt.objects.create(
        username=locked.username,
        ip_address="127.0.0.1",
        user_agent="test",
        failures_since_start=django_settings.AXES_FAILURE_LIMIT,
        get_data="",
        post_data="",
        http_accept="",
        path_info="/accounts/login/",
    )
    return admin, member, {"flan": flan, "gpt2": gpt2, "llama": llama, "tgi": tgi}


def chat_and_wait(page, hf, model, waiting_shot):
    """Two chat turns (bubbles), the second one caught while it waits for the first token."""
    page.select_option("#id_model", str(model.pk))
    page.fill("#id_prompt", "Why is the sky blue?")
    page.click("#run")
    expect(page.locator("#conversation .bubble.assistant:visible")).to_have_count(1)
    expect(page.locator("#run")).to_be_enabled()
    hf.response_delay = 1.5
    page.fill("#id_prompt", "And at sunset?")
    page.click("#run")
    expect(page.locator("#waiting")).to_be_visible()
    page.wait_for_timeout(1100)
    page.screenshot(path=str(waiting_shot), full_page=True)
    hf.response_delay = 0
    expect(page.locator("#conversation .bubble.assistant:visible")).to_have_count(2, timeout=10000)
    expect(page.locator("#run")).to_be_enabled()
    problems = []
    if not answer_in_view(page, page.locator("#conversation .bubble.assistant:visible").last):
        problems.append("the answer is off screen after the run")
    return problems


def run_into_an_error(page, hf, shot=None):
    """A run the provider fails (503 "Service Unavailable"): its words on the page, and the screenshot."""
    hf.fault("/v1/chat/completions", "status", times=10, status=503, body="Service Unavailable")
    page.fill("#id_prompt", "Why is the sky blue?")
    page.click("#run")
    expect(page.locator("#error")).to_be_visible(timeout=10000)
    expect(page.locator("#run")).to_be_enabled()
    if shot:
        page.screenshot(path=str(shot), full_page=True)
    hf.faults.clear()
    return [] if answer_in_view(page, page.locator("#error")) else ["the error is off screen after the run"]


def test_every_page_in_both_languages_at_desktop_and_phone_width(
    browser, live_server, hf, provider_token, tmp_path, settings
):
    settings.PLAYGROUND_RUNS_PER_MINUTE = 0  # the journey runs more than a person would
    admin, member, models = build_console(hf)
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    admin_pages = {
        "providers": "/settings/providers/",
        "huggingface": "/settings/providers/huggingface/",
        "model-add": "/settings/providers/huggingface/models/new/",
        "model-edit": f"/settings/providers/huggingface/models/{models['llama'].pk}/edit/",
        "model-detail": f"/settings/providers/huggingface/models/{models['gpt2'].pk}/",
        "model-providers": f"/settings/providers/huggingface/models/{models['llama'].pk}/",
        "model-delete": f"/settings/providers/huggingface/models/{models['flan'].pk}/delete/",
        "model-endpoint": f"/settings/providers/huggingface/models/{models['tgi'].pk}/",
        "model-add-endpoint": "/settings/providers/huggingface/models/new/",
        "api-keys-all": "/settings/api-keys/",
        "playground-admin": "/playground/",
        "import": "/settings/providers/huggingface/import/",
        "audit": "/settings/audit/",
        "people": "/people/",
        "not-found": "/no-such-page/",
    }
    member_pages = {
        "playground": "/playground/",
        "compare": "/playground/compare/",
        "api-keys": "/account/",
        "forbidden": "/settings/providers/",
    }
    problems = []
    for language in ("en", "zh-hans"):
        for width_name, width in WIDTHS.items():
            for who, pages in ((None, {"login": "/accounts/login/"}), (admin, admin_pages), (member, member_pages)):
                context = browser.new_context(
                    base_url=live_server.url, locale="en-US", viewport={"width": width, "height": 900}
                )
                context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
                page = context.new_page()
                page.set_default_timeout(10000)
                errors = []
                page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
                if who is not None:
                    login(page, who.username)
                only = os.environ.get("SCREENS_ONLY", "").split(",")  # e.g. SCREENS_ONLY=playground,audit
                for name, url in pages.items():
                    if only != [""] and name not in only:
                        continue
                    page.goto(url)
                    page.wait_for_load_state("networkidle")
                    where = f"{name} ({language}, {width_name})"
                    if name == "huggingface":
                        hf.response_delay = 0.8
                        page.click(f"#model-{models['flan'].pk} button[data-test-url]")
                        running = page.locator(f"#test-{models['flan'].pk} .test-result")
                        expect(running.locator(".steps li")).to_have_count(1)
                        page.screenshot(path=str(folder / f"test-running-{language}-{width_name}.png"), full_page=True)
                        expect(running).to_have_class(re.compile(r"\bok\b"), timeout=10000)
                        marks = running.locator(".steps .step-mark").all_text_contents()
                        if not marks or set(marks) != {"✓"}:
                            problems.append(f"{where}: a passing test's steps are marked {marks}")
                        hf.response_delay = 0
                        page.click(f"#model-{models['gpt2'].pk} button[data-test-url]")
                        expect(page.locator(f"#test-{models['gpt2'].pk} .test-result")).to_have_class(
                            re.compile("fail")
                        )
                        page.locator("details.result-details").evaluate_all("(ds) => ds.forEach((d) => d.open = true)")
                    if name == "model-add":  # the Hub picker with results
                        page.check("input[name=endpoint_type][value=inference_providers]")
                        page.locator("#picker-q").type("llam", delay=30)
                        expect(page.locator("#picker-results [role=option]").first).to_be_visible()
                        page.select_option("#picker-sort", "price")
                        llama = page.locator('#picker-results [data-repo="meta-llama/Llama-3.1-8B-Instruct"]')
                        page.screenshot(path=str(folder / f"picker-{language}-{width_name}.png"), full_page=True)
                        llama.dispatch_event("mousedown")  # chosen: the routing choices and their words
                        expect(page.locator("#picker-policy-words")).not_to_be_empty()
                    if name == "model-add-endpoint":  # the list of the account's endpoints
                        page.check("input[name=endpoint_type][value=inference_endpoint]")
                        page.click("#endpoint-picker .endpoint-load")
                        expect(page.locator('tr[data-endpoint="alice/sleepy"]')).to_be_visible()
                    if name == "playground-admin":  # an admin reads the upstream's words too, said to be its
                        page.select_option("#id_model", str(models["llama"].pk))
                        problems += [f"{where}: {p}" for p in run_into_an_error(page, hf)]
                        expect(page.locator("#error .upstream-text")).to_have_text("Service Unavailable")
                    if name == "playground":
                        waiting = folder / f"playground-waiting-{language}-{width_name}.png"
                        problems += [f"{where}: {p}" for p in chat_and_wait(page, hf, models["llama"], waiting)]
                        error_shot = folder / f"playground-error-{language}-{width_name}.png"
                        problems += [f"{where}: {p}" for p in run_into_an_error(page, hf, error_shot)]
                        text = page.inner_text("body")
                        problems += [f"{where}: {p}" for p in visible_problems(text, language)]
                        nodes = visible_text(page)
                        problems += [f"{where}: {p}" for p in text_problems(nodes, language, who is admin)]
                        page.click("#api-code summary")  # #13's snippets, opened
                        expect(page.locator("#api-code-snippet")).not_to_be_empty()
                    shot = folder / f"{name}-{language}-{width_name}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    text = page.inner_text("body")
                    problems += [f"{where}: {p}" for p in visible_problems(text, language)]
                    problems += [f"{where}: {p}" for p in text_problems(visible_text(page), language, who is admin)]
                    if page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"):
                        problems.append(f"{where}: wider than the screen")
                context.close()
                assert not errors, errors
    assert not problems, "\n".join(sorted(set(problems)))
