// Playground and compare: stream answers into the page, show figures, keep history and conversations.
"use strict";
(function () {
  const strings = (document.getElementById("pg-strings") || {dataset: {}}).dataset;
  const modelsData = document.getElementById("models-data");
  const models = modelsData ? JSON.parse(modelsData.textContent) : [];
  const byId = {};
  models.forEach(function (m) { byId[String(m.id)] = m; });
  const PARAMS = ["max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "stop_sequences"];

  function setParams(form, params) {
    PARAMS.concat(["seed"]).forEach(function (name) {
      const input = form.elements[name];
      if (!input) return;
      const value = params[name];
      input.value = value === undefined || value === null ? "" :
        (Array.isArray(value) ? value.join("\n") : value);
    });
    ["do_sample", "return_full_text"].forEach(function (name) {
      if (form.elements[name]) form.elements[name].checked = !!params[name];
    });
  }

  function renderFigures(dl, figures) {
    dl.replaceChildren();
    if (!figures) return;
    [["latency", figures.latency_ms, " ms"], ["ttft", figures.ttft_ms, " ms"], ["tokens", figures.generated_tokens, ""],
     ["rate", figures.tokens_per_second, ""], ["finish", figures.finish_reason, ""]].forEach(function (f) {
      const notReported = f[0] === "tokens" && (f[1] === null || f[1] === undefined);
      if (!notReported && (f[1] === null || f[1] === undefined || f[1] === "")) return;
      const dt = document.createElement("dt"); dt.textContent = strings[f[0]];
      const dd = document.createElement("dd"); dd.textContent = notReported ? strings.notReported : f[1] + f[2];
      dd.dataset.figure = f[0];
      dl.append(dt, dd);
    });
  }

  function showError(box, error) {
    box.hidden = false;
    box.dataset.category = error.category;
    box.textContent = (error.category ? error.category + ": " : "") + error.message +
      (error.fix ? " — " + strings.fix + ": " + error.fix : "");
  }

  // One streamed run into one output area. Returns a promise; `controller` aborts it.
  function runInto(form, body, view, controller, onDone) {
    view.output.textContent = "";
    view.error.hidden = true;
    view.figures.replaceChildren();
    view.output.classList.add("running");
    let text = "";
    let ended = false;
    const wait = waitLine(view.output);
    return Console.streamRun(form.action, body, Console.csrf(form), controller.signal, function (event) {
      wait.hidden = event.type !== "wait";
      if (["done", "error", "invalid", "failed"].indexOf(event.type) >= 0) ended = true;
      if (event.type === "wait") {
        // The upstream is silent: say what we wait for and for how long (the line also proves the tab is open).
        wait.textContent = (event.for === "first_token" ? strings.waitFirst : strings.waitNext) + " " +
          Math.round(event.waited_ms / 1000) + " s";
      } else if (event.type === "failed") {
        showError(view.error, {category: "", message: strings.consoleFailed + " (HTTP " + event.status + ")" +
          (event.detail ? " — " + event.detail : "")});
      } else if (event.type === "token") {
        text += event.text;
        view.output.textContent = text;
      } else if (event.type === "done") {
        renderFigures(view.figures, event.figures);
        if (onDone) onDone(text, event.figures);
      } else if (event.type === "error") {
        showError(view.error, event.error);
        renderFigures(view.figures, event.figures);
        if (onDone) onDone(null, event.figures);
      } else if (event.type === "invalid") {
        Console.showErrors(form, event.errors);
      }
    }).then(function () {
      if (!ended) showError(view.error, {category: "", message: text ? strings.cut : strings.network});
    }).catch(function (e) {
      if (e.name === "AbortError") {
        view.error.hidden = false;
        view.error.dataset.category = "stopped";
        view.error.textContent = strings.stopped;
      } else {
        showError(view.error, {category: "", message: text ? strings.cut : strings.network});
      }
    }).finally(function () { view.output.classList.remove("running"); wait.hidden = true; });
  }

  // The line under an output that tells what a silent run waits for.
  function waitLine(output) {
    let line = output.parentNode.querySelector(".wait-line");
    if (!line) {
      line = document.createElement("p");
      line.className = "wait-line help";
      line.setAttribute("aria-live", "polite");
      output.after(line);
    }
    line.hidden = true;
    return line;
  }

  // --- the playground page ---
  const form = document.getElementById("playground-form");
  if (form) {
    const select = form.elements.model;
    const runButton = document.getElementById("run");
    const stopButton = document.getElementById("stop");
    const view = {output: document.getElementById("output"), error: document.getElementById("error"),
                  figures: document.getElementById("figures")};
    let conversation = [];
    let controller = null;

    function isChat() { const m = byId[select.value]; return m && m.chat; }
    function renderConversation() {
      const box = document.getElementById("conversation");
      box.replaceChildren();
      conversation.forEach(function (msg) {
        const p = document.createElement("p");
        p.className = "turn " + msg.role;
        p.textContent = (msg.role === "user" ? strings.you : strings.assistant) + ": " + msg.content;
        box.appendChild(p);
      });
    }
    function modeChanged(prefill) {
      const chat = isChat();
      form.querySelectorAll("[data-chat-only]").forEach(function (el) { el.hidden = !chat; });
      form.querySelectorAll("[data-completion-only]").forEach(function (el) { el.hidden = chat; });
      if (prefill && byId[select.value]) setParams(form, byId[select.value].defaults);
    }
    select.addEventListener("change", function () { conversation = []; renderConversation(); modeChanged(true); });
    modeChanged(true);
    document.getElementById("new-conversation").addEventListener("click", function () {
      conversation = []; renderConversation(); view.output.textContent = "";
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      Console.showErrors(form, {});
      const body = new FormData(form);
      const prompt = form.elements.prompt.value;
      if (isChat()) body.set("messages", JSON.stringify(conversation));
      controller = new AbortController();
      runButton.disabled = true;
      stopButton.disabled = false;
      runInto(form, body, view, controller, function (text) {
        if (isChat() && text !== null) {
          conversation.push({role: "user", content: prompt}, {role: "assistant", content: text});
          renderConversation();
          form.elements.prompt.value = "";
        }
        addHistory();
      }).finally(function () {
        runButton.disabled = false;
        stopButton.disabled = true;
        controller = null;
      });
    });
    stopButton.addEventListener("click", function () { if (controller) controller.abort(); });

    function addHistory() {
      // The list is server-rendered; a light refresh keeps it the single source of truth.
      fetch(window.location.href, {credentials: "same-origin"}).then(function (r) { return r.text(); }).then(function (html) {
        const doc = new DOMParser().parseFromString(html, "text/html");
        const fresh = doc.getElementById("history");
        if (fresh) document.getElementById("history").replaceWith(fresh);
      });
    }

    document.addEventListener("click", function (event) {
      const open = event.target.closest(".open-run");
      const del = event.target.closest(".delete-run");
      if (open) {
        fetch(open.dataset.url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (run) {
          if (run.model_id && byId[String(run.model_id)]) select.value = String(run.model_id);
          modeChanged(false);
          setParams(form, run.parameters || {});
          const msgs = run.messages || [];
          if (run.mode === "chat") {
            const system = msgs.find(function (m) { return m.role === "system"; });
            form.elements.system.value = system ? system.content : "";
            conversation = msgs.filter(function (m) { return m.role !== "system"; });
            if (run.output) conversation.push({role: "assistant", content: run.output});
            renderConversation();
            form.elements.prompt.value = "";
          } else {
            form.elements.prompt.value = run.prompt;
          }
          view.output.textContent = run.output;
          view.error.hidden = !run.error_message;
          if (run.error_message) showError(view.error, {category: run.error_category, message: run.error_message});
          renderFigures(view.figures, run.figures);
        });
      } else if (del && window.confirm(strings.confirmDelete)) {
        fetch(del.dataset.url, {method: "POST", credentials: "same-origin",
          headers: {"X-CSRFToken": Console.csrf(form)}}).then(function (r) {
          if (r.ok) del.closest("li").remove();
        });
      }
    });
  }

  // --- the compare page ---
  const compareForm = document.getElementById("compare-form");
  if (compareForm) {
    const columns = document.getElementById("compare-columns");
    const template = document.getElementById("compare-column");
    const stop = document.getElementById("stop-compare");
    let controllers = [];
    compareForm.addEventListener("submit", function (event) {
      event.preventDefault();
      Console.showErrors(compareForm, {});
      const chosen = Array.from(compareForm.querySelectorAll("input[name=compare_model]:checked")).map(function (c) { return c.value; });
      if (chosen.length < 2 || chosen.length > 4) {
        Console.showErrors(compareForm, {compare_model: [document.getElementById("compare-strings").dataset.choose]});
        return;
      }
      columns.replaceChildren();
      const group = crypto.randomUUID ? crypto.randomUUID() : String(Date.now());
      controllers = [];
      stop.disabled = false;
      const runs = chosen.map(function (id) {
        const node = template.content.firstElementChild.cloneNode(true);
        node.dataset.model = byId[id].name;
        node.querySelector(".name").textContent = byId[id].name;
        columns.appendChild(node);
        const body = new FormData(compareForm);
        body.delete("compare_model");
        body.set("model", id);
        body.set("compare_group", group);
        if (byId[id].chat) body.set("messages", "[]");
        const controller = new AbortController();
        controllers.push(controller);
        return runInto(compareForm, body, {output: node.querySelector(".output"), error: node.querySelector(".error"),
          figures: node.querySelector(".figures")}, controller);
      });
      Promise.all(runs).finally(function () { stop.disabled = true; });
    });
    stop.addEventListener("click", function () { controllers.forEach(function (c) { c.abort(); }); });
  }
})();
