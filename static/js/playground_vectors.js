// Playground: the embeddings and rerank modes. The chosen model's task picks the form (texts; or a query and
// documents); the answer is a heat map of the texts' cosine similarities, or the documents ranked with score bars.
// Runs go to their own route and reopen from history (entries marked .open-vector-run).
"use strict";
(function () {
  const form = document.getElementById("vectors-form");
  const page = document.getElementById("playground-form");
  if (!form || !page || !window.Playground) return;
  const P = window.Playground;
  const strings = Object.assign({}, document.getElementById("pg-strings").dataset,
                                document.getElementById("vec-strings").dataset);
  const models = JSON.parse(document.getElementById("models-data").textContent);
  const byId = {};
  models.forEach(function (m) { byId[String(m.id)] = m; });
  const MODES = {"feature-extraction": "embeddings", "text-ranking": "rerank"};
  const TASKS = {embeddings: "feature-extraction", rerank: "text-ranking"};
  const select = page.elements.model;
  const columns = page.closest(".playground");
  const runButton = document.getElementById("run-vectors");
  const stopButton = document.getElementById("stop-vectors");
  const box = {waiting: document.getElementById("vectors-waiting"), error: document.getElementById("vectors-error"),
               result: document.getElementById("vectors-result"), figures: document.getElementById("vectors-figures")};
  const lang = document.documentElement.lang || undefined;
  const whole = new Intl.NumberFormat(lang, {maximumFractionDigits: 0});
  const cell = new Intl.NumberFormat(lang, {minimumFractionDigits: 2, maximumFractionDigits: 2});
  const score = new Intl.NumberFormat(lang, {minimumFractionDigits: 3, maximumFractionDigits: 3});
  let controller = null;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function lines(value) {  // as the server reads the field: one text per non-empty line, trimmed
    return value.split("\n").map(function (s) { return s.trim(); }).filter(function (s) { return s; });
  }

  function modeOf(id) { const m = byId[String(id)]; return m ? MODES[m.task] || null : null; }
  function setMode(mode) {
    columns.classList.toggle("vector-mode", !!mode);
    form.querySelectorAll("[data-task]").forEach(function (node) { node.hidden = node.dataset.task !== TASKS[mode]; });
  }
  function clear() {
    box.error.hidden = true;
    box.error.classList.add("error");
    box.result.replaceChildren();
    box.figures.replaceChildren();
    Console.showErrors(form, {});
  }

  // Dimensions, input tokens where the server counted them, latency: each named, "not reported" when absent.
  function renderFigures(mode, vectors, figures) {
    box.figures.replaceChildren();
    const rows = [["latency", figures && figures.latency_ms, function (v) { return whole.format(v) + " " + strings.ms; }]];
    if (vectors && mode === "embeddings") rows.push(["dimensions", vectors.dimensions, whole.format]);
    if (vectors && (vectors.similarity || vectors.ranking)) rows.push(["inputTokens", vectors.prompt_tokens, whole.format]);
    rows.forEach(function (row) {
      const missing = row[1] === null || row[1] === undefined;
      const dd = el("dd", missing ? "not-reported" : null, missing ? strings.notReported : row[2](row[1]));
      dd.dataset.figure = row[0];
      const div = el("div");
      div.append(el("dt", null, strings[row[0]]), dd);
      box.figures.appendChild(div);
    });
  }

  // A diverging scale: blue for similar, orange for opposite, paler towards 0; white figures on dark cells.
  function paint(node, value) {
    if (value === null || value === undefined) return;
    const strength = Math.min(1, Math.abs(value));
    const light = 97 - strength * 57;
    node.style.backgroundColor = "hsl(" + (value >= 0 ? 212 : 24) + " 70% " + light + "%)";
    if (light < 62) node.style.color = "#fff";
  }

  function heatMap(vectors) {
    const texts = vectors.texts || [];
    const wrap = el("div", "heatmap-scroll");
    wrap.tabIndex = 0;  // a keyboard can scroll it on a narrow screen
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", strings.similarity);
    const table = el("table", "heatmap");
    table.id = "heatmap";
    table.appendChild(el("caption", null, strings.similarity));
    const head = el("tr");
    head.appendChild(el("th", "corner", strings.text));
    texts.forEach(function (text, i) {
      const th = el("th", null, String(i + 1));
      th.scope = "col";
      th.title = text;
      head.appendChild(th);
    });
    table.appendChild(el("thead")).appendChild(head);
    const body = el("tbody");
    (vectors.similarity || []).forEach(function (row, i) {
      const tr = el("tr");
      const th = el("th", "row-text");
      th.scope = "row";
      th.title = texts[i] || "";
      th.append(el("span", "n", String(i + 1)), el("span", "excerpt", texts[i] || ""));
      tr.appendChild(th);
      row.forEach(function (value, j) {
        const td = el("td", i === j ? "diagonal" : null, value === null ? "—" : cell.format(value));
        td.title = (texts[i] || "") + " · " + (texts[j] || "");
        paint(td, value);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    const legend = el("p", "heat-legend help");
    const bar = el("span", "heat-scale");
    bar.setAttribute("aria-hidden", "true");
    legend.append(el("span", null, "−1"), bar, el("span", null, "1"));
    return [wrap, legend, el("p", "help heat-help", strings.similarityHelp)];
  }

  function ranking(vectors) {
    const docs = vectors.documents || [];
    const results = vectors.ranking || [];
    const values = results.map(function (r) { return r.score; });
    // Scores in [0, 1] are drawn as they are; any other scale (raw logits) from its lowest to its highest.
    const low = Math.min(0, Math.min.apply(null, values)), high = Math.max(1, Math.max.apply(null, values));
    const list = el("ol", "ranking");
    list.id = "ranking";
    list.setAttribute("aria-label", strings.ranking);
    results.forEach(function (r, rank) {
      const li = el("li");
      li.dataset.index = String(r.index);
      const doc = el("div", "doc");
      doc.append(el("span", "doc-text", docs[r.index]), el("span", "doc-number", "#" + (r.index + 1)));
      const meter = el("div", "score-bar");
      const fill = el("span");
      fill.style.width = (high > low ? (r.score - low) / (high - low) * 100 : 0).toFixed(1) + "%";
      meter.appendChild(fill);
      li.append(el("span", "rank", String(rank + 1)), doc, meter, el("span", "score", score.format(r.score)));
      list.appendChild(li);
    });
    return [el("h3", null, strings.ranking), list];
  }

  function render(mode, vectors, figures) {
    box.result.replaceChildren();
    if (vectors && mode === "embeddings" && vectors.similarity) box.result.append.apply(box.result, heatMap(vectors));
    if (vectors && mode === "rerank" && vectors.ranking) box.result.append.apply(box.result, ranking(vectors));
    renderFigures(mode, vectors, figures);
  }

  select.addEventListener("change", function () { clear(); setMode(modeOf(select.value)); });
  setMode(modeOf(select.value));

  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.tagName === "TEXTAREA" &&
        !runButton.disabled) {
      event.preventDefault();
      form.requestSubmit(runButton);
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clear();
    const mode = modeOf(select.value);
    const body = new FormData(form);
    body.set("model", select.value);
    controller = new AbortController();
    runButton.disabled = true;
    stopButton.disabled = false;
    const wait = P.waiter(box.waiting, byId[select.value] ? byId[select.value].name : "");
    wait.start();
    let ended = false;
    Console.streamRun(form.action, body, Console.csrf(form), controller.signal, function (event) {
      if (event.type === "done") {
        ended = true;
        render(mode, event.vectors, event.figures);
      } else if (event.type === "error") {
        ended = true;
        P.showError(box.error, event.error);
        renderFigures(mode, null, event.figures);
      } else if (event.type === "invalid") {
        ended = true;
        Console.showErrors(form, event.errors);
      } else if (event.type === "failed") {
        ended = true;
        P.showError(box.error, {category: "", message: strings.consoleFailed + " (HTTP " + event.status + ")" +
          (event.detail ? " — " + event.detail : "")});
      }
    }).then(function () {
      if (!ended) P.showError(box.error, {category: "", message: strings.network});
    }).catch(function (e) {
      if (e.name === "AbortError") {
        box.error.hidden = false;
        box.error.classList.remove("error");  // a Stop is what the person asked for: a notice, not a failure
        box.error.textContent = strings.stopped;
        return;
      }
      P.showError(box.error, {category: "", message: strings.network});
    }).finally(function () {
      wait.stop();
      runButton.disabled = false;
      stopButton.disabled = true;
      controller = null;
      P.refreshHistory();
    });
  });
  stopButton.addEventListener("click", function () { if (controller) controller.abort(); });

  // A run from history: its model chosen (its form shown), its inputs back in the fields, its result as it was.
  document.addEventListener("click", function (event) {
    const open = event.target.closest(".open-vector-run");
    if (!open) return;
    fetch(open.dataset.url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (run) {
      if (run.model_id && byId[String(run.model_id)]) {
        select.value = String(run.model_id);
        select.dispatchEvent(new Event("change"));
      } else {
        clear();
      }
      setMode(run.mode);
      const vectors = run.vectors || {};
      if (run.mode === "embeddings") form.elements.texts.value = (vectors.texts || []).join("\n");
      if (run.mode === "rerank") {
        form.elements.query.value = vectors.query || "";
        form.elements.documents.value = (vectors.documents || []).join("\n");
      }
      form.dispatchEvent(new Event("input"));  // the code panel follows the inputs
      if (run.error_message) {
        P.showError(box.error, {category: run.error_category, title: run.error_title, message: run.error_message,
          advice: run.error_advice, upstream: run.error_upstream, admin_hint: run.error_admin_hint});
      }
      render(run.mode, run.status === "ok" ? vectors : null, run.figures);
      form.scrollIntoView({block: "nearest"});
    });
  });
})();
