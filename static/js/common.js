// Shared helpers: CSRF header, inline form errors, and the NDJSON stream reader used by the playground.
"use strict";
window.Console = (function () {
  function csrf(form) {
    const input = (form || document).querySelector("input[name=csrfmiddlewaretoken]") ||
      document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function showErrors(form, errors) {
    form.querySelectorAll("[data-errors-for]").forEach(function (ul) { ul.replaceChildren(); });
    form.querySelectorAll(".field.has-error").forEach(function (f) { f.classList.remove("has-error"); });
    Object.keys(errors || {}).forEach(function (name) {
      const ul = form.querySelector('[data-errors-for="' + name + '"]') ||
        form.querySelector('[data-errors-for="__all__"]');
      if (!ul) return;
      const field = ul.closest(".field");
      if (field) field.classList.add("has-error");
      errors[name].forEach(function (e) {
        const li = document.createElement("li");
        li.textContent = e.message || e;
        ul.appendChild(li);
      });
    });
  }

  // Words from an error body: a JSON error's message, an HTML page's title or text, never markup.
  function readable(text, payload) {
    if (payload && typeof payload === "object") {
      const error = payload.error || payload.message || payload.detail;
      if (typeof error === "string") return error.slice(0, 300);
      if (error && typeof error.message === "string") return error.message.slice(0, 300);
      return "";
    }
    if (/^\s*</.test(text || "")) {
      const doc = new DOMParser().parseFromString(text, "text/html");
      const title = doc.title || (doc.body ? doc.body.textContent : "");
      return title.replace(/\s+/g, " ").trim().slice(0, 300);
    }
    return (text || "").trim().slice(0, 300);
  }

  // POST the form data and call onEvent for every NDJSON line, as soon as it arrives.
  async function streamRun(url, body, token, signal, onEvent) {
    const response = await fetch(url, {
      method: "POST", body: body, signal: signal, credentials: "same-origin",
      headers: {"X-CSRFToken": token, "Accept": "application/x-ndjson"},
    });
    if (!response.ok) {
      const text = await response.text();
      let payload = null;
      try { payload = JSON.parse(text); } catch (e) { payload = null; }
      const errors = payload && (payload.errors || payload.form_errors);
      if (errors && Object.keys(errors).length) {
        onEvent({type: "invalid", status: response.status, errors: errors});
      } else {
        onEvent({type: "failed", status: response.status, detail: readable(text, payload)});
      }
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const text = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (text.trim()) onEvent(JSON.parse(text));
      }
    }
  }

  // The console's one date format (as the server writes it, display.DATE_FORMAT): YYYY-MM-DD HH:mm in the
  // time zone the page names, whatever the browser's own zone or language.
  function when(iso) {
    const zone = document.documentElement.dataset.timeZone || undefined;
    let parts;
    try {
      parts = new Intl.DateTimeFormat("en-GB", {timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23"}).formatToParts(new Date(iso));
    } catch (e) {
      return iso;
    }
    const p = {};
    parts.forEach(function (part) { p[part.type] = part.value; });
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
  });

  // A search form with data-live="<id>" filters as one types: the page is asked again with the query and the part
  // with that id replaced (a late answer never overwrites a newer one); the address keeps the query.
  let liveAsked = 0, liveTimer = null;
  document.addEventListener("input", function (event) {
    const form = event.target.closest("form[data-live]");
    if (!form) return;
    window.clearTimeout(liveTimer);
    liveTimer = window.setTimeout(function () {
      const url = form.getAttribute("action") || window.location.pathname;
      const query = new URLSearchParams(new FormData(form)).toString();
      const asked = ++liveAsked;
      fetch(url + "?" + query, {credentials: "same-origin"}).then(function (r) { return r.text(); }).then(function (html) {
        if (asked !== liveAsked) return;
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById(form.dataset.live);
        const current = document.getElementById(form.dataset.live);
        if (fresh && current) current.replaceWith(fresh);
        window.history.replaceState(null, "", url + (query.endsWith("=") ? "" : "?" + query));
      });
    }, 250);
  });

  // A button with data-copy="#id" copies that element's text (a new key, a snippet) and says so; where the
  // browser allows no clipboard (a plain-http address), the text is selected for Ctrl+C instead.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-copy]");
    const source = button && document.querySelector(button.dataset.copy);
    if (!source) return;
    const selectIt = function () {
      window.getSelection().selectAllChildren(source);
      button.textContent = button.dataset.selected;
    };
    if (!navigator.clipboard) return selectIt();
    navigator.clipboard.writeText(source.textContent).then(function () {
      button.textContent = button.dataset.copied;
    }, selectIt);
  });

  // A table with data-sortable sorts by a column whose header has data-sort when the header is clicked (again:
  // the other way); cells may carry data-value, the number they show, so "—" sorts last.
  document.addEventListener("click", function (event) {
    const th = event.target.closest("table[data-sortable] th[data-sort]");
    if (!th) return;
    const table = th.closest("table"), body = table.tBodies[0];
    const index = Array.prototype.indexOf.call(th.parentNode.children, th);
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const key = function (row) {
      const cell = row.children[index];
      const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
      return th.dataset.sort === "number" ? (raw === "" ? null : Number(raw)) : raw.toLowerCase();
    };
    Array.from(body.rows).sort(function (a, b) {
      const x = key(a), y = key(b);
      if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);  // unknown last, either way
      return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
    }).forEach(function (row) { body.appendChild(row); });
  });

  // A menu (<details class="menu">) closes when one clicks elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });

  return {csrf: csrf, showErrors: showErrors, streamRun: streamRun, when: when};
})();
