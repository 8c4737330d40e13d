// Resume a paused Inference Endpoint or wake a scaled-to-zero one, then watch its state until it runs or fails.
// Used by the endpoint list in the model form and by the model page (also after a failed connection test).
"use strict";
window.EndpointWatch = window.EndpointWatch || (function () {
  const strings = (document.getElementById("endpoint-strings") || {dataset: {}}).dataset;
  const POLL_MS = 2000;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function stateLabel(state) {
    const key = String(state || "unknown").toLowerCase();
    return strings["state" + key.charAt(0).toUpperCase() + key.slice(1)] || strings.stateUnknown;
  }

  function badge(state) {
    const cls = state === "running" ? "ok" : (state === "failed" || state === "updateFailed" ? "fail" : "wait");
    const node = el("span", "badge " + cls, stateLabel(state));
    node.dataset.state = state;
    return node;
  }

  function startable(endpoint) {
    return endpoint.state === "paused" || endpoint.state === "scaledToZero";
  }

  function startButton(endpoint, model, status, onRunning) {
    const button = el("button", "endpoint-start",
      endpoint.state === "paused" ? strings.resume : strings.wake);
    button.type = "button";
    button.addEventListener("click", function () { start(endpoint, model, status, button, onRunning); });
    return button;
  }

  async function start(endpoint, model, status, button, onRunning) {
    button.disabled = true;
    const body = new FormData();
    body.append("namespace", endpoint.namespace);
    body.append("name", endpoint.name);
    if (model) body.append("model", model);
    let answer;
    try {
      const response = await fetch(strings.startUrl, {method: "POST", body: body, credentials: "same-origin",
        headers: {"X-CSRFToken": Console.csrf()}});
      answer = await response.json();
    } catch (e) {
      status.textContent = strings.network;
      button.disabled = false;
      return;
    }
    if (!answer.ok) {
      status.textContent = answer.message + (answer.explanation ? " " + answer.explanation : "");
      button.disabled = false;
      return;
    }
    watch(answer.endpoint, model, status, answer.watch_seconds, function (final) {
      button.disabled = false;
      if (final.state === "running") {
        button.hidden = true;
        if (onRunning) onRunning(final);
      }
    });
  }

  // Poll the state every two seconds, for at most the configured time; the Stop button ends it at once.
  function watch(endpoint, model, status, seconds, done) {
    const limit = (seconds || 600) * 1000;
    const started = Date.now();
    let stopped = false;
    let timer = null;
    const cancel = el("button", "endpoint-cancel", strings.cancel);
    cancel.type = "button";
    cancel.addEventListener("click", function () {
      stopped = true;
      clearTimeout(timer);
      status.replaceChildren(el("span", null, strings.gaveUp));
      done(endpoint);
    });

    function show(current) {
      const seconds = Math.round((Date.now() - started) / 1000);
      status.replaceChildren(el("span", null, strings.waiting + " " + current.name + " "), badge(current.state),
        el("span", "elapsed", " " + seconds + " " + strings.seconds + " "), cancel);
    }

    async function poll(current) {
      if (stopped) return;
      if (current.state === "running") {
        status.replaceChildren(badge("running"), el("span", null, " " + strings.ready));
        done(current);
        return;
      }
      if (current.state === "failed" || current.state === "updateFailed") {
        status.replaceChildren(badge(current.state), el("span", null, " " + strings.failed + " " + (current.message || "")));
        done(current);
        return;
      }
      if (Date.now() - started > limit) {
        status.replaceChildren(el("span", null, strings.gaveUp));
        done(current);
        return;
      }
      show(current);
      timer = setTimeout(async function () {
        const query = new URLSearchParams({namespace: current.namespace, name: current.name});
        if (model) query.set("model", model);
        try {
          const response = await fetch(strings.stateUrl + "?" + query, {credentials: "same-origin"});
          const answer = await response.json();
          poll(answer.ok ? answer.endpoint : current);
        } catch (e) {
          poll(current);
        }
      }, POLL_MS);
    }
    poll(endpoint);
  }

  // The model page: look the endpoint up by its URL; offer Resume or Wake when it is not running.
  async function modelPage(box) {
    const status = box.querySelector(".picker-status");
    const buttons = box.querySelector(".buttons");
    let answer;
    try {
      const response = await fetch(box.dataset.lookupUrl, {credentials: "same-origin"});
      answer = await response.json();
    } catch (e) {
      status.textContent = strings.network;
      return;
    }
    if (!answer.ok) {
      status.textContent = answer.message;
      return;
    }
    const endpoint = answer.endpoint;
    status.replaceChildren(el("span", "mono", endpoint.namespace + "/" + endpoint.name + " "), badge(endpoint.state));
    buttons.replaceChildren();
    if (startable(endpoint)) buttons.appendChild(startButton(endpoint, box.dataset.model, status));
  }

  const box = document.getElementById("endpoint-actions");
  if (box) {
    modelPage(box);
    const result = document.getElementById("test-result");
    if (result) {
      // After a failed test that says the endpoint is paused or starting, look again and offer to start it.
      new MutationObserver(function () {
        if (/^endpoint_(paused|paused_or_starting|waking)$/.test(result.dataset.category)) {
          modelPage(box);
          box.scrollIntoView({block: "nearest"});
        }
      }).observe(result, {attributes: true, attributeFilter: ["data-category"]});
    }
  }

  return {badge: badge, startable: startable, startButton: startButton, stateLabel: stateLabel, el: el};
})();
