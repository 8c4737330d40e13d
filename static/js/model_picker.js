// Model form: find a Hub model as you type and see who serves it; choosing one fills repo id, endpoint type and task.
// Debounced, one request at a time, bounded in time; the repo id field keeps working without it.
"use strict";
(function () {
  const box = document.getElementById("model-picker");
  const form = document.getElementById("model-form");
  if (!box || !form) return;
  const s = box.dataset;
  const input = box.querySelector("#picker-q");
  const list = box.querySelector("#picker-results");
  const status = box.querySelector(".picker-status");
  const more = box.querySelector(".picker-more");
  const policyBox = box.querySelector(".picker-policy");
  const policy = box.querySelector("#picker-policy");
  const policyWords = box.querySelector("#picker-policy-words");
  const sortBox = box.querySelector(".picker-sort");
  const sort = box.querySelector("#picker-sort");
  const DEBOUNCE_MS = 300;
  const TIMEOUT_MS = 10000;
  let timer = null;
  let controller = null;
  let results = [];
  let active = -1;
  let next = "";
  let chosen = null;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function number(n) {
    return typeof n === "number" ? n.toLocaleString() : "";
  }

  function providerLine(p) {
    const parts = [p.provider];
    if (p.context_length) parts.push(s.context + " " + number(p.context_length) + " " + s.tokens);
    if (p.free) parts.push(s.free);
    else if (p.price_in !== null && p.price_out !== null) parts.push("$" + p.price_in + " / $" + p.price_out + " " + s.price);
    if (p.tools) parts.push(s.tools);
    if (p.latency_ms) parts.push(number(Math.round(p.latency_ms)) + " " + s.firstToken);
    if (p.throughput) parts.push(number(Math.round(p.throughput * 10) / 10) + " " + s.throughput);
    return parts.join(" · ");
  }

  function option(result, index) {
    const li = el("li", "picker-option");
    li.id = "picker-opt-" + index;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.dataset.repo = result.id;
    li.appendChild(el("span", "mono picker-id", result.id));
    const served = {providers: s.servedProviders, hosted: s.servedHosted, none: s.servedNone}[result.served];
    li.appendChild(el("span", "badge " + (result.served === "none" ? "wait" : "ok"), served));
    if (result.gated) {
      const access = result.access === true ? s.accessYes : (result.access === false ? s.accessNo : "");
      li.appendChild(el("span", "badge " + (result.access === false ? "fail" : "wait"), s.gated + (access ? ": " + access : "")));
    }
    if (result.vision) {
      const mark = el("span", "badge ok picker-vision", s.images);
      mark.title = s.imagesTitle;
      li.appendChild(mark);
    }
    if (result.providers.length) {
      const ul = el("ul", "picker-providers");
      sorted(result.providers).forEach(function (p) {
        const item = el("li", null, providerLine(p));
        item.dataset.provider = p.provider;
        ul.appendChild(item);
      });
      li.appendChild(ul);
    }
    li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(index); });
    return li;
  }

  // Providers in the order the admin asked for; those that do not report the figure come last, by name.
  const SORT_KEYS = {
    price: function (p) { return p.free ? 0 : (p.price_in !== null && p.price_out !== null ? p.price_in + p.price_out : null); },
    speed: function (p) { return p.throughput ? -p.throughput : null; },
    context: function (p) { return p.context_length ? -p.context_length : null; },
  };
  function sorted(providers) {
    const key = SORT_KEYS[sort.value];
    return providers.slice().sort(function (a, b) {
      const x = key ? key(a) : null, y = key ? key(b) : null;
      if (x !== y) {
        if (x === null) return 1;
        if (y === null) return -1;
        return x - y;
      }
      return a.provider < b.provider ? -1 : (a.provider > b.provider ? 1 : 0);
    });
  }

  function render(append) {
    if (!append) list.replaceChildren();
    const start = list.children.length;
    results.slice(start).forEach(function (r, i) { list.appendChild(option(r, start + i)); });
    list.hidden = !results.length;
    sortBox.hidden = !results.some(function (r) { return r.providers.length > 1; });
    input.setAttribute("aria-expanded", results.length ? "true" : "false");
    more.hidden = !next;
  }

  function highlight(index) {
    const items = list.querySelectorAll("[role=option]");
    if (!items.length) return;
    active = (index + items.length) % items.length;
    items.forEach(function (item, i) { item.setAttribute("aria-selected", i === active ? "true" : "false"); });
    input.setAttribute("aria-activedescendant", items[active].id);
    items[active].scrollIntoView({block: "nearest"});
  }

  function setType(type) {
    const radio = form.querySelector("input[name=endpoint_type][value=" + type + "]");
    if (radio && !radio.checked) {
      radio.checked = true;
      radio.dispatchEvent(new Event("change", {bubbles: true}));
    }
  }

  function setRepo(value) {
    const repo = form.querySelector("[name=repo_id]");
    if (repo) repo.value = value;
  }

  function choose(index) {
    const result = results[index];
    if (!result) return;
    chosen = result;
    setType(result.fill.endpoint_type);
    const task = form.querySelector("[name=task]");
    if (task && result.fill.task) task.value = result.fill.task;
    setRepo(result.fill.repo_id);
    policy.replaceChildren();
    if (result.fill.endpoint_type === "inference_providers" && result.providers.length) {
      policy.appendChild(new Option(s.automatic, ""));
      result.policies.forEach(function (p) { policy.appendChild(new Option(s[p], p)); });
      sorted(result.providers).forEach(function (p) { policy.appendChild(new Option(s.only + " " + p.provider, p.provider)); });
      policyBox.hidden = false;
      explainPolicy();
    } else {
      policyBox.hidden = true;
    }
    list.hidden = true;
    more.hidden = true;
    sortBox.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    status.textContent = s.filled + " " + result.id;
  }

  // What the chosen routing says, and which provider it takes now when the catalog's figures tell.
  function explainPolicy() {
    if (!chosen) return;
    const value = policy.value;
    const only = chosen.providers.length === 1 ? chosen.providers[0].provider : "";
    const picks = chosen.picks || {fastest: only, cheapest: only};
    let words;
    if (value && servedBy(value)) {
      words = s.wordsOnly.replace("{p}", value);
    } else {
      const rule = value || "fastest";
      words = value ? s["words" + rule.charAt(0).toUpperCase() + rule.slice(1)] : s.wordsAutomatic;
      const gap = /[。！？]$/.test(words) ? "" : " ";  // Chinese sentences follow each other without a space
      if (rule !== "preferred") words += gap + (picks[rule] ? s.wordsNow.replace("{p}", picks[rule]) : s.wordsUnknown);
    }
    policyWords.textContent = words;
  }
  function servedBy(name) {
    return chosen.providers.some(function (p) { return p.provider === name; });
  }

  async function search(cursor) {
    const query = input.value.trim();
    if (controller) controller.abort();
    if (query.length < 2) {
      results = [];
      next = "";
      render(false);
      status.textContent = "";
      return;
    }
    controller = new AbortController();
    const mine = controller;
    const giveUp = setTimeout(function () { mine.abort(); }, TIMEOUT_MS);
    const task = form.querySelector("[name=task]");
    const params = new URLSearchParams({q: query, task: task ? task.value : ""});
    if (cursor) params.set("cursor", cursor);
    status.textContent = s.searching;
    try {
      const response = await fetch(s.searchUrl + "?" + params, {credentials: "same-origin", signal: mine.signal});
      const answer = await response.json();
      if (mine !== controller) return;
      if (!answer.ok) {
        results = [];
        next = "";
        render(false);
        status.textContent = answer.message;
        return;
      }
      results = cursor ? results.concat(answer.results) : answer.results;
      next = answer.next || "";
      render(Boolean(cursor));
      active = -1;
      status.textContent = results.length ? "" : s.none;
    } catch (e) {
      if (mine === controller) status.textContent = s.network;
    } finally {
      clearTimeout(giveUp);
    }
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { search(""); }, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown") { event.preventDefault(); highlight(active + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); highlight(active - 1); }
    else if (event.key === "Enter") {
      event.preventDefault();  // never submits the model form
      if (active >= 0) choose(active);
      else { clearTimeout(timer); search(""); }
    } else if (event.key === "Escape") {
      list.hidden = true;
      sortBox.hidden = true;
      input.setAttribute("aria-expanded", "false");
    }
  });
  more.addEventListener("click", function () { search(next); });
  // The task decides what is searched (chat models, embedding models, rerankers): a new task, a new search.
  const taskField = form.querySelector("[name=task]");
  if (taskField) taskField.addEventListener("change", function () { if (input.value.trim().length >= 2) search(""); });
  policy.addEventListener("change", function () {
    if (chosen) setRepo(chosen.fill.repo_id + (policy.value ? ":" + policy.value : ""));
    explainPolicy();
  });
  sort.addEventListener("change", function () { render(false); });
})();
