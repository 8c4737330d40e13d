// Playground and compare: stream answers into the page (chat as bubbles), say what is being waited for,
// show only measured or reported figures, keep history and conversations.
"use strict";
(function () {
  const strings = (document.getElementById("pg-strings") || {dataset: {}}).dataset;
  const modelsData = document.getElementById("models-data");
  const models = modelsData ? JSON.parse(modelsData.textContent) : [];
  const byId = {};
  models.forEach(function (m) { byId[String(m.id)] = m; });
  const PARAMS = ["max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "stop_sequences"];

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key] === undefined ? "" : values[key]; });
  }
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

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

  // A figure only when measured or reported, in one format whether live or reopened: whole milliseconds, tokens/s
  // to one decimal, in the page's language with its unit; finish reasons in words. Time to first token for streams.
  const lang = document.documentElement.lang || undefined;
  const wholeNumber = new Intl.NumberFormat(lang, {maximumFractionDigits: 0});
  const oneDecimal = new Intl.NumberFormat(lang, {maximumFractionDigits: 1});
  const FINISH_WORDS = {stop: strings.finishStop, length: strings.finishLength, tool_calls: strings.finishTools,
                        content_filter: strings.finishFilter};
  function figureText(kind, value) {
    if (kind === "latency" || kind === "ttft") return wholeNumber.format(value) + " " + strings.ms;
    if (kind === "tokens") return wholeNumber.format(value);
    if (kind === "rate") return oneDecimal.format(value);
    return FINISH_WORDS[value] || value;  // a reason this console has no words for is shown as the server said it
  }
  function renderFigures(dl, figures, stream) {
    dl.replaceChildren();
    if (!figures) return;
    const rows = [["latency", figures.latency_ms]];
    if (stream) rows.push(["ttft", figures.ttft_ms]);
    rows.push(["tokens", figures.generated_tokens], ["rate", figures.tokens_per_second], ["finish", figures.finish_reason]);
    rows.forEach(function (f) {
      const missing = f[1] === null || f[1] === undefined || f[1] === "";
      const div = el("div");
      // No rate for known tokens: they came in one burst, too quick to time (rates of a burst are meaningless)
      const untimed = missing && f[0] === "rate" && figures.generated_tokens;
      const dd = el("dd", missing ? "not-reported" : null,
                    untimed ? strings.untimed : missing ? strings.notReported : figureText(f[0], f[1]));
      dd.dataset.figure = f[0];
      if (f[0] === "tokens" && figures.tokens_counted && !missing) dd.append(el("small", "counted", " · " + strings.counted));
      div.append(el("dt", null, strings[f[0]]), dd);
      dl.appendChild(div);
    });
  }

  // A form's errors by their fields; the playground's parameters sit in a panel outside its form
  // (playground_panel.js), whose fields get theirs there, the panel opened to show them.
  function showFormErrors(form, errors) {
    const panel = document.querySelector('[data-params-for="' + form.id + '"]');
    if (!panel) return Console.showErrors(form, errors);
    const inPanel = {}, rest = {};
    Object.keys(errors || {}).forEach(function (name) {
      (panel.querySelector('[data-errors-for="' + name + '"]') ? inPanel : rest)[name] = errors[name];
    });
    Console.showErrors(form, rest);
    Console.showErrors(panel, inPanel);
    if (Object.keys(inPanel).length && window.PlaygroundPanel) PlaygroundPanel.open();
  }

  function showError(box, error) {
    box.hidden = false;
    box.dataset.category = error.category;
    box.replaceChildren();
    box.appendChild(el("strong", null, error.title || error.message));
    if (error.title && error.message && error.message !== error.title) box.appendChild(el("span", null, " " + error.message));
    if (error.upstream) {  // the server's own text, untranslated: said to be the server's
      const own = el("p", "upstream muted", strings.upstream + ": ");
      own.appendChild(el("q", "upstream-text", error.upstream));
      box.appendChild(own);
    }
    if (error.advice) {
      const fix = el("p", "fix");
      fix.appendChild(el("strong", null, strings.fix + ": "));
      fix.appendChild(document.createTextNode(error.advice));
      box.appendChild(fix);
    }
    if (error.admin_hint) box.appendChild(el("p", "admin-hint muted", error.admin_hint));
    box.scrollIntoView({block: "nearest"});  // a failure's words below the fold (a long form, a phone) come on screen
  }

  // "Waiting for <model> to answer… 4 s", from the moment the request leaves until the first token.
  function waiter(box, name) {
    const started = Date.now();
    let template = strings.waiting, timer = null;
    function tick() {
      if (!box) return;
      box.querySelector(".waiting-text").textContent =
        fill(template, {model: name, s: Math.floor((Date.now() - started) / 1000)});
    }
    return {
      start: function () { if (!box) return; box.hidden = false; tick(); timer = window.setInterval(tick, 250); },
      answering: function () { if (box) box.hidden = true; },
      stop: function () { window.clearInterval(timer); if (box) box.hidden = true; },
    };
  }

  // One streamed run into one place (`view.write(text)`). Returns a promise; `controller` aborts it.
  function runInto(form, body, view, controller, onDone) {
    view.error.hidden = true;
    view.figures.replaceChildren();
    const wait = waiter(view.waiting, view.name);
    const line = waitLine(view.error);
    wait.start();
    let text = "", stream = true, ended = false;
    return Console.streamRun(form.action, body, Console.csrf(form), controller.signal, function (event) {
      line.hidden = event.type !== "wait";
      if (["done", "error", "invalid", "failed"].indexOf(event.type) >= 0) ended = true;
      if (view.halted) return;  // Stop was pressed: what the page shows now is what the run keeps
      if (event.type === "start") {
        stream = event.stream;
        view.runId = event.run;
      } else if (event.type === "wait") {
        // The upstream is silent: the server says what it waits for and for how long (the line also proves the
        // tab is open); it takes over from the page's own count.
        wait.answering();
        line.querySelector(".waiting-text").textContent = waitText(event);
      } else if (event.type === "failed") {
        wait.stop();
        showError(view.error, {category: "", message: strings.consoleFailed + " (HTTP " + event.status + ")" +
          (event.detail ? " — " + event.detail : "")});
        if (onDone) onDone(null, null);
      } else if (event.type === "tool_call") {
        wait.answering();
        if (view.toolCall) view.toolCall(event);  // playground_tools.js draws it
      } else if (event.type === "token") {
        wait.answering();
        text += event.text;
        view.shown = text;
        view.write(text);
      } else if (event.type === "done") {
        wait.stop();
        renderFigures(view.figures, event.figures, stream);
        if (onDone) onDone(text, event.figures);
      } else if (event.type === "error") {
        wait.stop();
        showError(view.error, event.error);
        renderFigures(view.figures, event.figures, stream);
        if (onDone) onDone(null, event.figures);
      } else if (event.type === "invalid") {
        wait.stop();
        showFormErrors(form, event.errors);
        if (onDone) onDone(null, null);
      }
    }).then(function () {
      if (!ended) {
        showError(view.error, {category: "", message: text ? strings.cut : strings.network});
        if (onDone) onDone(null, null);
      }
    }).catch(function (e) {
      if (e.name === "AbortError") {
        view.error.hidden = false;
        view.error.dataset.category = "stopped";
        view.error.classList.remove("error");  // a Stop is what the person asked for: a notice, not a failure
        view.error.textContent = strings.stopped;
        if (onDone) onDone(view.halted && view.shown ? view.shown : null, null);  // stopped: the run keeps this
        return;
      }
      showError(view.error, {category: "", message: text ? strings.cut : strings.network});
      if (onDone) onDone(null, null);
    }).finally(function () { wait.stop(); line.hidden = true; });
  }

  // Stop: freeze what the page shows, end the stream, and have the run keep exactly that text (the server had
  // sent a few more tokens that were still on their way). Resolves once the run is saved as stopped.
  function stopRun(view, controller, form) {
    view.halted = true;
    const shown = Array.from(view.shown || "").length;  // characters as the server counts them, not UTF-16 units
    controller.abort();
    if (!view.runId) return Promise.resolve();
    const body = new FormData();
    body.set("shown", String(shown));
    const url = form.dataset.stopUrl.replace("/0/", "/" + encodeURIComponent(view.runId) + "/");
    return fetch(url, {method: "POST", body: body,
      credentials: "same-origin", headers: {"X-CSRFToken": Console.csrf(form)}}).catch(function () {});
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "10000000-1000-4000-8000-100000000000".replace(/[018]/g, function (c) {
      return (c ^ (Math.random() * 16) >> (c / 4)).toString(16);
    });
  }

  // What a silent run waits for, with the seconds the server counts: the endpoint waking up (it was scaled to
  // zero or starting), the first token, or the next one.
  function waitText(event) {
    const s = Math.round((event.waited_ms || 0) / 1000);
    if (event.for === "wake") return fill(strings.waitWake, {s: s});
    return (event.for === "next_token" ? strings.waitNext : strings.waitFirst) + " " + s + " s";
  }

  // The line that tells what a silent run waits for, as the server measures it; just above the error box.
  function waitLine(anchor) {
    let node = anchor.parentNode.querySelector(".wait-line");
    if (!node) {
      node = el("div", "waiting wait-line");
      node.setAttribute("aria-live", "polite");
      node.append(el("span", "spinner"), el("span", "waiting-text"));
      node.firstChild.setAttribute("aria-hidden", "true");
      anchor.before(node);
    }
    node.hidden = true;
    return node;
  }

  // --- the playground page ---
  const form = document.getElementById("playground-form");
  if (form) {
    const select = form.elements.model;
    const runButton = document.getElementById("run");
    const stopButton = document.getElementById("stop");
    const box = document.getElementById("conversation");
    const output = document.getElementById("output");
    const conversationId = document.getElementById("id_conversation");
    const view = {error: document.getElementById("error"), figures: document.getElementById("figures"),
                  waiting: document.getElementById("waiting")};
    let stopping = null;
    let conversation = [];
    let controller = null;

    function isChat() { const m = byId[select.value]; return m && m.chat; }
    function bubble(role, content) {
      const node = el("div", "bubble " + role);
      node.appendChild(el("span", "who", role === "user" ? strings.you : strings.assistant));
      node.appendChild(el("span", "text", typeof content === "string" ? content : window.ChatImages.text(content)));
      if (typeof content !== "string") window.ChatImages.attach(node, content);
      box.appendChild(node);
      return node;
    }
    function renderConversation() {
      box.replaceChildren();
      conversation.forEach(function (msg, i) {
        if (!(window.PlaygroundTools && PlaygroundTools.render(box, msg, conversation, i, bubble))) bubble(msg.role, msg.content);
      });
    }
    function resetConversation() {
      conversation = [];
      conversationId.value = "";
      renderConversation();
      view.error.hidden = true;
      view.figures.replaceChildren();
    }
    function modeChanged(prefill) {
      const chat = isChat();
      document.querySelectorAll("[data-chat-only]").forEach(function (node) { node.hidden = !chat; });
      document.querySelectorAll("[data-completion-only]").forEach(function (node) { node.hidden = chat; });
      const model = byId[select.value];
      const served = document.getElementById("model-served");
      served.hidden = !(model && model.served);
      served.textContent = model && model.served ? model.served : "";
      const warning = document.getElementById("model-warning");
      warning.hidden = !(model && model.failing);
      if (model && model.failing) warning.textContent = "⚠ " + fill(strings.failing, {title: model.failing_title});
      if (prefill && model) setParams(form, model.defaults);
      if (window.PlaygroundPanel) PlaygroundPanel.update();
    }
    // Ctrl+Enter (⌘+Enter) in the prompt or the system prompt runs it, as in most chat tools.
    form.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.tagName === "TEXTAREA" &&
          !runButton.disabled) {
        event.preventDefault();
        form.requestSubmit(runButton);
      }
    });
    select.addEventListener("change", function () { resetConversation(); output.textContent = ""; modeChanged(true); });
    modeChanged(true);
    document.getElementById("new-conversation").addEventListener("click", function () {
      resetConversation();
      form.elements.prompt.focus();
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      showFormErrors(form, {});
      const prompt = form.elements.prompt.value;
      const chat = isChat();
      const sent = chat && window.ChatImages ? window.ChatImages.userContent(prompt) : prompt;  // with its image
      if (chat && !conversationId.value) conversationId.value = newId();
      const body = new FormData(form);
      if (chat) body.set("messages", JSON.stringify(conversation));
      controller = new AbortController();
      view.halted = false;
      view.runId = null;
      view.shown = "";
      stopping = null;
      view.error.classList.add("error");
      runButton.disabled = true;
      stopButton.disabled = false;
      let answer = null;
      view.name = byId[select.value] ? byId[select.value].name : "";
      if (chat) {
        form.elements.prompt.value = "";  // the message moves into the conversation at once
        if (prompt.trim() || sent !== prompt) bubble("user", sent);
        answer = bubble("assistant", "");
        answer.hidden = true;
        if (window.PlaygroundTools) PlaygroundTools.start(view, box);
        view.write = function (text) {
          const first = answer.hidden;
          follow(box, first ? answer : null, function () {
            answer.hidden = false;
            answer.querySelector(".text").textContent = text;
          });
        };
      } else {
        output.textContent = "";
        view.write = function (text) {
          follow(output, output.textContent ? null : output, function () { output.textContent = text; });
        };
      }
      runInto(form, body, view, controller, function (text) {
        if (chat) {
          if (text !== null) {
            if (prompt.trim() || sent !== prompt) conversation.push({role: "user", content: sent});
            if (sent !== prompt) window.ChatImages.clear();
            conversation.push(window.PlaygroundTools ? PlaygroundTools.message(text, view.calls) :
              {role: "assistant", content: text});
          } else if (!form.elements.prompt.value) {
            form.elements.prompt.value = prompt;  // not sent: give the message back
          }
          renderConversation();
        }
        // After a Stop, the history item is refreshed once the run is saved as stopped, not while it still runs.
        (stopping || Promise.resolve()).then(refreshHistory);
      }).finally(function () {
        runButton.disabled = false;
        stopButton.disabled = true;
        controller = null;
      });
    });
    stopButton.addEventListener("click", function () {
      if (controller) stopping = stopRun(view, controller, form);
    });

    // The answer stays in view as it grows: its box follows the newest text unless the person scrolled up to read,
    // and the page brings the answer on screen when it starts (on a phone it would land above or below it).
    function follow(scroller, startedNode, write) {
      const atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
      write();
      if (atEnd || startedNode) scroller.scrollTop = scroller.scrollHeight;
      if (startedNode) startedNode.scrollIntoView({block: "nearest"});
    }

    function refreshHistory() {
      // The list is server-rendered; a light refresh keeps it the single source of truth.
      fetch(window.location.href, {credentials: "same-origin"}).then(function (r) { return r.text(); }).then(function (html) {
        const doc = new DOMParser().parseFromString(html, "text/html");
        const fresh = doc.getElementById("history");
        if (fresh) document.getElementById("history").replaceWith(fresh);
      });
    }

    // For the embeddings and rerank modes (playground_vectors.js): one way to show errors, waits and history.
    window.Playground = {showError: showError, waiter: waiter, refreshHistory: refreshHistory,
      // playground_tools.js: a tool's result joins the conversation; `ready` says whether to run again now.
      answerTool: function (message, ready) {
        conversation.push(message);
        renderConversation();
        if (ready(conversation)) form.requestSubmit(runButton);
      }};

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
            if (run.output || (run.tool_calls || []).length) {
              conversation.push(window.PlaygroundTools ? PlaygroundTools.message(run.output, run.tool_calls) :
                {role: "assistant", content: run.output});
            }
            if (window.PlaygroundTools) PlaygroundTools.restore(run.tools);
            conversationId.value = run.conversation || "";
            renderConversation();
            form.elements.prompt.value = "";
          } else {
            form.elements.prompt.value = run.prompt;
            output.textContent = run.output;
          }
          view.error.hidden = !run.error_message;
          if (run.error_message) {
            showError(view.error, {category: run.error_category, title: run.error_title, message: run.error_message,
              advice: run.error_advice, upstream: run.error_upstream, admin_hint: run.error_admin_hint});
          }
          renderFigures(view.figures, run.figures, run.figures && run.figures.ttft_ms !== null);
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
    let controllers = [], views = [];
    compareForm.addEventListener("submit", function (event) {
      event.preventDefault();
      Console.showErrors(compareForm, {});
      const chosen = Array.from(compareForm.querySelectorAll("input[name=compare_model]:checked")).map(function (c) { return c.value; });
      if (chosen.length < 2 || chosen.length > 4) {
        Console.showErrors(compareForm, {compare_model: [document.getElementById("compare-strings").dataset.choose]});
        return;
      }
      columns.replaceChildren();
      const group = newId();
      controllers = [];
      views = [];
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
        const out = node.querySelector(".output");
        out.textContent = "";
        const columnView = {error: node.querySelector(".error"), figures: node.querySelector(".figures"),
          waiting: node.querySelector(".waiting"), name: byId[id].name,
          write: function (text) { out.textContent = text; }};
        views.push(columnView);
        return runInto(compareForm, body, columnView, controller);
      });
      Promise.all(runs).finally(function () { stop.disabled = true; });
    });
    stop.addEventListener("click", function () {
      controllers.forEach(function (c, i) { stopRun(views[i], c, compareForm); });
    });
  }
})();
