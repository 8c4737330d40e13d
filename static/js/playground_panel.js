// Playground: the parameters panel. Its button folds and unfolds it (remembered on a wide screen; a phone's sheet
// starts folded so the answer stays what the screen shows), and each empty field's grey text says what it does
// for the chosen model (the server's per-model "placeholders": what the console sends, or the engine's default).
"use strict";
(function () {
  const panel = document.getElementById("params-panel");
  const toggle = document.getElementById("params-toggle");
  const form = document.getElementById("playground-form");
  if (!panel || !toggle || !form) return;
  const KEY = "playground.params";
  const sheet = window.matchMedia("(max-width: 1000px)");
  const closer = panel.querySelector(".params-close");

  function remembered() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function remember(open) {
    try { window.localStorage.setItem(KEY, open ? "open" : "folded"); } catch (e) { /* private mode: not kept */ }
  }
  // The answer the person reads: the last bubble of a chat, or a completion's box.
  function answer() {
    const bubbles = Array.from(document.querySelectorAll("#conversation .bubble")).filter(function (b) {
      return b.offsetParent !== null;
    });
    if (bubbles.length) return bubbles[bubbles.length - 1];
    const output = document.getElementById("output");
    return output && output.offsetParent !== null && output.textContent ? output : null;
  }
  // A phone's sheet covers the bottom of the screen: the page gets room below (CSS) and the answer comes on
  // screen above the sheet when the sheet would hide it (or it was scrolled away).
  function keepAnswerInView() {
    const node = answer();
    if (!node) return;
    const box = node.getBoundingClientRect();
    const free = window.innerHeight - panel.getBoundingClientRect().height;
    if (box.top < 0) window.scrollBy(0, box.top - 8);
    else if (box.bottom > free) window.scrollBy(0, Math.max(0, Math.min(box.bottom - free + 8, box.top - 8)));
  }
  function setOpen(open, keep) {
    panel.hidden = !open;
    document.body.classList.toggle("params-sheet-open", open && sheet.matches);
    if (open && sheet.matches) keepAnswerInView();
    toggle.setAttribute("aria-expanded", String(open));
    closer.setAttribute("aria-expanded", String(open));
    if (keep && !sheet.matches) remember(open);
  }
  function isOpen() { return !panel.hidden; }

  setOpen(!sheet.matches && remembered() !== "folded", false);
  toggle.addEventListener("click", function () {
    setOpen(!isOpen(), true);
    if (isOpen() && sheet.matches) closer.focus({preventScroll: true});
  });
  closer.addEventListener("click", function () {
    setOpen(false, true);
    toggle.focus();
  });
  panel.addEventListener("keydown", function (event) {
    const run = document.getElementById("run");
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.tagName === "TEXTAREA" &&
        run && !run.disabled) {
      event.preventDefault();  // as in the form's own text boxes (playground.js): Ctrl+Enter runs
      form.requestSubmit(run);
    } else if (event.key === "Escape" && sheet.matches) {
      setOpen(false, false);
      toggle.focus();
    }
  });
  sheet.addEventListener("change", function () { setOpen(!sheet.matches && remembered() !== "folded", false); });

  // --- placeholders ---
  const data = document.getElementById("models-data");
  const byId = {};
  (data ? JSON.parse(data.textContent) : []).forEach(function (m) { byId[String(m.id)] = m; });
  const NAMES = ["max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "stop_sequences", "seed"];

  function update() {
    const model = byId[form.elements.model.value];
    const words = (model && model.placeholders) || {empty: {}, greedy: {}};
    const sampling = form.elements.do_sample;
    // A completion with Sampling unticked asks for greedy decoding: some fields then mean something else.
    const greedy = model && !model.chat && sampling && !sampling.checked;
    NAMES.forEach(function (name) {
      const input = form.elements[name];
      if (!input) return;
      const text = (greedy && words.greedy[name]) || words.empty[name] || "";
      input.placeholder = text;
      input.title = text;
    });
    askEngine(model);
  }
  // What the engine itself applies (TGI's served context, llama.cpp's sampling defaults): asked once per model
  // after the page's own words are shown, so nothing waits for it; a failure keeps those words.
  function askEngine(model) {
    if (!model || !model.live_defaults || model.asked) return;
    model.asked = true;
    fetch(model.live_defaults, {credentials: "same-origin"}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (answer) {
      if (!answer || !answer.placeholders) return;
      model.placeholders = answer.placeholders;
      if (byId[form.elements.model.value] === model) update();
    }).catch(function () { /* a hint: the documented words stay */ });
  }

  form.elements.model.addEventListener("change", update);
  if (form.elements.do_sample) form.elements.do_sample.addEventListener("change", update);
  update();

  // playground.js: a field with an error opens the panel; a model chosen from history updates the grey text.
  window.PlaygroundPanel = {update: update, open: function () { setOpen(true, false); }};
})();
