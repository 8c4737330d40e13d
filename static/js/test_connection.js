// "Test connection": streams the test's steps as they complete, with the elapsed time, a countdown while a
// model loads and a Cancel; then the diagnosis (title, message, what to do) in the place it belongs to.
"use strict";
(function () {
  const strings = (document.getElementById("test-strings") || {dataset: {}}).dataset;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function fill(template, seconds) { return template.replace("{s}", String(seconds)); }

  function stepItem(step) {
    const li = el("li", step.ok ? "ok" : "fail");
    li.appendChild(el("span", "step-mark", step.ok ? "✓" : "✗"));
    li.appendChild(el("span", "step-name", step.name));
    if (step.detail) li.appendChild(el("span", "step-detail", step.detail));
    return li;
  }

  // The server's own text, apart from the console's words and said to be the server's (it is not translated).
  function upstreamLine(text) {
    const line = el("p", "upstream muted");
    line.appendChild(el("span", null, strings.upstream + ": "));
    line.appendChild(el("q", "upstream-text", text));
    return line;
  }

  function render(box, result) {
    box.replaceChildren();
    box.hidden = false;
    box.className = "test-result " + (result.ok ? "ok" : "fail");
    box.dataset.category = result.category || "ok";
    const head = el("div", "result-head");
    head.appendChild(el("span", "badge " + (result.ok ? "ok" : "fail"), result.ok ? strings.ok : result.title));
    if (box.dataset.modelName) head.appendChild(el("strong", "result-model", box.dataset.modelName));
    if (result.tested_at_display) head.appendChild(el("span", "when", result.tested_at_display));
    head.appendChild(el("span", "muted", result.latency_ms + " ms"));
    box.appendChild(head);
    if (result.message && result.message !== result.title) box.appendChild(el("p", "result-message", result.message));
    if (result.upstream) box.appendChild(upstreamLine(result.upstream));
    if (!result.ok && result.advice) {
      const fix = el("p", "fix");
      fix.appendChild(el("strong", null, strings.fix + ": "));
      fix.appendChild(document.createTextNode(result.advice));
      box.appendChild(fix);
    }
    if (!result.ok && result.admin_hint) box.appendChild(el("p", "admin-hint muted", result.admin_hint));
    if (result.ok && result.sample_output) {
      const sample = el("p", "sample");
      sample.appendChild(el("span", "muted", strings.sample + ": "));
      sample.appendChild(el("q", null, result.sample_output));
      box.appendChild(sample);
    }
    const details = el("details", "result-details");
    details.appendChild(el("summary", null, strings.details));
    if (result.steps && result.steps.length) {
      const list = el("ol", "steps");
      result.steps.forEach(function (step) { list.appendChild(stepItem(step)); });
      details.appendChild(list);
    }
    const facts = el("dl", "facts");
    function fact(label, value) {
      if (value === null || value === undefined || value === "") return;
      facts.append(el("dt", null, label), el("dd", null, String(value)));
    }
    fact(strings.http, result.http_status);
    fact(strings.retryAfter, result.retry_after);
    fact(strings.estimated, result.estimated_time);
    details.appendChild(facts);
    box.appendChild(details);
  }

  // The live view of a running test: current step, elapsed time, countdown, steps done, Cancel.
  function progress(box, controller) {
    box.replaceChildren();
    box.hidden = false;
    box.className = "test-result running";
    box.dataset.category = "";
    const head = el("div", "result-head");
    const spinner = el("span", "spinner");
    spinner.setAttribute("aria-hidden", "true");
    const current = el("span", "current", strings.starting);
    const elapsed = el("span", "elapsed muted", fill(strings.elapsed, 0));
    const cancel = el("button", "small cancel", strings.cancel);
    cancel.type = "button";
    cancel.addEventListener("click", function () { controller.abort(); });
    head.append(spinner, current, elapsed, cancel);
    const countdown = el("p", "countdown muted");
    countdown.hidden = true;
    const list = el("ol", "steps");
    box.append(head, countdown, list);
    const started = Date.now();
    let waitUntil = null, waitTemplate = strings.loading, wakingSince = null;
    const timer = window.setInterval(tick, 250);
    function tick() {
      elapsed.textContent = fill(strings.elapsed, Math.floor((Date.now() - started) / 1000));
      if (wakingSince !== null) {  // the endpoint was scaled to zero or starting: the test wakes it, counting up
        countdown.hidden = false;
        countdown.textContent = fill(strings.waking, Math.floor((Date.now() - wakingSince) / 1000));
      } else if (waitUntil !== null) {
        const left = Math.ceil((waitUntil - Date.now()) / 1000);
        countdown.hidden = false;
        countdown.textContent = left > 0 ? fill(waitTemplate, left) : strings.loadingOver;
      }
    }
    return {
      running: function (name) {
        current.textContent = name + "…";
        waitUntil = wakingSince = null;
        countdown.hidden = true;
      },
      step: function (step) { list.appendChild(stepItem(step)); },
      loading: function (event) {
        if (event.category === "endpoint_waking") wakingSince = Date.now();
        waitTemplate = event.category === "rate_limited" ? strings.rate : strings.loading;
        waitUntil = Date.now() + event.seconds * 1000;
        tick();
      },
      stop: function () { window.clearInterval(timer); },
    };
  }

  async function run(button, url, body, box, onDone) {
    const label = button.textContent;
    const controller = new AbortController();
    button.disabled = true;
    button.classList.add("busy");
    button.textContent = strings.running;
    const live = progress(box, controller);
    let result = null;
    try {
      await Console.streamRun(url, body, Console.csrf(), controller.signal, function (event) {
        if (event.type === "running") live.running(event.name);
        else if (event.type === "step") live.step(event);
        else if (event.type === "loading") live.loading(event);
        else if (event.type === "result") result = event.result;
        else if (event.type === "invalid" && document.getElementById("model-form")) {
          box.hidden = true;
          Console.showErrors(document.getElementById("model-form"), event.errors);
        } else if (event.type === "invalid" || event.type === "failed") {
          // The console itself answered an error (a page-side {"type": "failed"}, or a JSON error for scripts).
          const all = (event.errors && event.errors.__all__) || [];
          const detail = all.length ? (all[0].message || all[0]) : event.detail;
          box.replaceChildren(el("p", "result-message",
            strings.failed + " (HTTP " + event.status + ")" + (detail ? " — " + detail : "")));
          box.className = "test-result fail";
          box.dataset.category = "console";
          box.hidden = false;
        }
      });
      if (result) {
        render(box, result);
        if (onDone) onDone(result);
      }
    } catch (e) {
      box.replaceChildren(el("p", "result-message", e.name === "AbortError" ? strings.cancelled : strings.network));
      box.className = "test-result " + (e.name === "AbortError" ? "cancelled" : "fail");
      box.dataset.category = e.name === "AbortError" ? "cancelled" : "network";
    } finally {
      live.stop();
      button.disabled = false;
      button.classList.remove("busy");
      button.textContent = label;
    }
  }

  function showLastTest(target, result) {
    if (!target) return;
    const badge = el("span", "badge " + (result.ok ? "ok" : "fail"), result.ok ? strings.okShort || strings.ok : result.title);
    badge.dataset.category = result.category || "ok";
    badge.title = result.message || "";
    target.replaceChildren(badge, document.createTextNode(" "),
      el("span", "when", result.tested_at_display || Console.when(result.tested_at)));
  }

  // The model page's list of tests takes the new one in (the server keeps the history; the page asks it again).
  function refreshTestHistory() {
    const history = document.getElementById("test-history");
    if (!history) return;
    fetch(window.location.href, {credentials: "same-origin"}).then(function (r) { return r.text(); }).then(function (html) {
      const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("test-history");
      if (fresh) history.replaceWith(fresh);
    });
  }

  const formButton = document.getElementById("test-form");
  if (formButton) {
    formButton.addEventListener("click", function () {
      const form = document.getElementById("model-form");
      Console.showErrors(form, {});
      run(formButton, form.dataset.testUrl, new FormData(form), document.getElementById("test-result"), function (result) {
        const pending = form.querySelector("input[name=pending_test]");
        if (pending && result.test_id) pending.value = result.test_id;
      });
    });
  }

  document.querySelectorAll("button[data-test-url]").forEach(function (button) {
    if (button.id === "test-form") return;
    button.addEventListener("click", function () {
      const box = document.querySelector(button.dataset.testBox || "#test-result");
      const stale = document.getElementById("last-failure");
      if (stale) stale.hidden = true;  // the new result replaces the stored one
      const row = box.closest("tr.test-row");
      if (row) row.hidden = false;
      const body = new FormData();
      body.append("csrfmiddlewaretoken", Console.csrf());
      run(button, button.dataset.testUrl, body, box, function (result) {
        showLastTest(document.querySelector(button.dataset.testTarget), result);
        refreshTestHistory();
      });
    });
  });
})();
