// Model form, Inference Endpoint type: list the account's endpoints; choosing one fills URL, display name and task.
"use strict";
(function () {
  const box = document.getElementById("endpoint-picker");
  const form = document.getElementById("model-form");
  if (!box || !form || !window.EndpointWatch) return;
  const strings = (document.getElementById("endpoint-strings") || {dataset: {}}).dataset;
  const W = window.EndpointWatch;
  const status = box.querySelector(".picker-status");
  const table = box.querySelector(".endpoint-list");
  const tbody = table.querySelector("tbody");

  function fill(endpoint) {
    const values = endpoint.fill;
    const url = form.querySelector("[name=endpoint_url]");
    const name = form.querySelector("[name=display_name]");
    const task = form.querySelector("[name=task]");
    const repo = form.querySelector("[name=repo_id]");
    if (url) url.value = values.endpoint_url;
    if (name && !name.value) name.value = values.display_name;
    if (task && values.task) task.value = values.task;
    if (repo && values.repo_id && !repo.value) repo.value = values.repo_id;
    status.textContent = strings.filled + " " + endpoint.namespace + "/" + endpoint.name;
  }

  function row(endpoint) {
    const tr = document.createElement("tr");
    tr.dataset.endpoint = endpoint.namespace + "/" + endpoint.name;
    tr.dataset.url = endpoint.url;
    const name = W.el("td", "mono", endpoint.namespace + "/" + endpoint.name);
    if (endpoint.url) name.appendChild(W.el("small", "help", endpoint.url));
    const state = W.el("td");
    state.appendChild(W.badge(endpoint.state));
    const rowStatus = W.el("small", "help");
    rowStatus.setAttribute("aria-live", "polite");
    // A failed endpoint says why, in Hugging Face's words (the control plane's status message).
    if (endpoint.message && /failed/i.test(endpoint.state)) rowStatus.textContent = endpoint.message;
    state.appendChild(rowStatus);
    const actions = W.el("td", "actions");
    const use = W.el("button", "endpoint-use", strings.use);
    use.type = "button";
    use.disabled = !endpoint.usable || !endpoint.url;
    if (!endpoint.usable) use.title = strings.notUsable;
    else if (!endpoint.url) use.title = strings.noUrl;
    use.addEventListener("click", function () { fill(endpoint); });
    actions.appendChild(use);
    if (W.startable(endpoint)) {
      actions.appendChild(W.startButton(endpoint, "", rowStatus, function (running) {
        state.querySelector(".badge").replaceWith(W.badge("running"));
        endpoint.url = running.url;
        endpoint.fill = running.fill;
        use.disabled = !running.usable || !running.url;
      }));
    }
    tr.append(name, state, W.el("td", "mono", endpoint.model), W.el("td", null, endpoint.engine_name),
      W.el("td", null, endpoint.instance), actions);
    return tr;
  }

  // After a failed test that says the endpoint is paused or starting, list the endpoints and point at its row.
  const result = document.getElementById("test-result");
  if (result) {
    new MutationObserver(async function () {
      if (!/^endpoint_(paused|paused_or_starting|waking)$/.test(result.dataset.category)) return;
      await load(box.querySelector(".endpoint-load"));
      const url = (form.querySelector("[name=endpoint_url]") || {}).value || "";
      tbody.querySelectorAll("tr").forEach(function (tr) {
        const match = url && tr.dataset.url && tr.dataset.url.replace(/\/$/, "") === url.replace(/\/$/, "");
        tr.classList.toggle("current", Boolean(match));
        if (match) tr.scrollIntoView({block: "nearest"});
      });
    }).observe(result, {attributes: true, attributeFilter: ["data-category"]});
  }

  box.querySelector(".endpoint-load").addEventListener("click", function (event) { load(event.currentTarget); });

  async function load(button) {
    button.disabled = true;
    status.textContent = strings.loading;
    try {
      const response = await fetch(box.dataset.listUrl, {credentials: "same-origin"});
      const answer = await response.json();
      if (!answer.ok) {
        status.textContent = answer.message + (answer.explanation ? " " + answer.explanation : "");
        return;
      }
      tbody.replaceChildren.apply(tbody, answer.endpoints.map(row));
      table.hidden = !answer.endpoints.length;
      const problems = answer.problems.map(function (p) { return p.message; }).join(" ");
      // "Could not read the list" is not "there is none": the words for an empty list only when it was read.
      if (problems) status.textContent = strings.unreadable + " " + problems;
      else status.textContent = answer.endpoints.length ? "" : strings.none;
    } catch (e) {
      status.textContent = strings.network;
    } finally {
      button.disabled = false;
    }
  }
})();
