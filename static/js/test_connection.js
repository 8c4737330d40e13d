// "Test connection": runs without reloading, shows progress, then the diagnosis.
"use strict";
(function () {
  const strings = (document.getElementById("test-strings") || {dataset: {}}).dataset;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function render(box, result, retry) {
    box.replaceChildren();
    box.hidden = false;
    box.className = "test-result " + (result.ok ? "ok" : "fail");
    box.dataset.category = result.category || "ok";
    box.appendChild(el("h3", null, result.ok ? strings.ok : strings.failed + ": " + result.category));
    box.appendChild(el("p", "message", result.message));
    if (!result.ok && result.explanation) box.appendChild(el("p", "explanation", result.explanation));
    if (!result.ok && result.fix) box.appendChild(el("p", "fix", strings.fix + ": " + result.fix));
    const facts = el("dl", "facts");
    function fact(label, value) {
      if (value === null || value === undefined || value === "") return;
      facts.appendChild(el("dt", null, label));
      facts.appendChild(el("dd", null, String(value)));
    }
    fact(strings.http, result.http_status);
    fact(strings.latency, result.latency_ms + " ms");
    fact(strings.retryAfter, result.retry_after);
    fact(strings.estimated, result.estimated_time);
    fact(strings.sample, result.sample_output);
    box.appendChild(facts);
    if (result.steps && result.steps.length) {
      const list = el("ol", "steps");
      result.steps.forEach(function (step) {
        list.appendChild(el("li", step.ok ? "ok" : "fail", step.name + (step.detail ? ": " + step.detail : "")));
      });
      box.appendChild(list);
    }
    if (result.category === "endpoint_paused_or_starting" && retry) {
      const wake = el("button", "wake", strings.wake);
      wake.type = "button";
      wake.addEventListener("click", function () { retry(true); });
      box.appendChild(wake);
    }
  }

  async function run(button, url, body, box, onDone) {
    const label = button.textContent;
    button.disabled = true;
    button.classList.add("busy");
    button.textContent = strings.running;
    box.hidden = false;
    box.className = "test-result running";
    box.replaceChildren(el("p", "progress", strings.running));
    try {
      const response = await fetch(url, {method: "POST", body: body, credentials: "same-origin",
        headers: {"X-CSRFToken": Console.csrf()}});
      const result = await response.json();
      if (result.form_errors) {
        box.hidden = true;
        Console.showErrors(document.getElementById("model-form"), result.form_errors);
      } else {
        render(box, result, function (scaleUp) {
          const again = new FormData();
          if (body instanceof FormData) body.forEach(function (v, k) { again.append(k, v); });
          if (scaleUp) again.set("scale_up", "1");
          run(button, url, again, box, onDone);
        });
        if (onDone) onDone(result);
      }
    } catch (e) {
      box.replaceChildren(el("p", "message", strings.network));
      box.className = "test-result fail";
    } finally {
      button.disabled = false;
      button.classList.remove("busy");
      button.textContent = label;
    }
  }

  const formButton = document.getElementById("test-form");
  if (formButton) {
    formButton.addEventListener("click", function () {
      const form = document.getElementById("model-form");
      Console.showErrors(form, {});
      run(formButton, form.dataset.testUrl, new FormData(form), document.getElementById("test-result"));
    });
  }

  document.querySelectorAll("[data-test-url]").forEach(function (button) {
    if (button.id === "test-form" || button.tagName !== "BUTTON") return;
    button.addEventListener("click", function () {
      let box = document.getElementById("test-result");
      if (!box) {
        box = el("div", "test-result");
        box.id = "test-result";
        button.closest("section").appendChild(box);
      }
      const body = new FormData();
      body.append("csrfmiddlewaretoken", Console.csrf());
      run(button, button.dataset.testUrl, body, box, function (result) {
        const target = document.querySelector(button.dataset.testTarget);
        if (target) {
          target.replaceChildren(el("span", "badge " + (result.ok ? "ok" : "fail"), result.ok ? "ok" : result.category));
          target.appendChild(document.createTextNode(" " + new Date(result.tested_at).toLocaleString()));
        }
      });
    });
  });
})();
