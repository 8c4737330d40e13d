// Playground chat with tools: the Tools panel (the definitions' function names in the tool choice, an example,
// the panel opened when the server names a mistake in it), a run's tool calls drawn as their own bubbles while they
// stream, and a "Tool result" box under an unanswered call that adds the result and runs again. playground.js
// calls in: PlaygroundTools.start(view, box) per run, view.toolCall(event) per tool_call line,
// PlaygroundTools.message(text, calls) for the answer kept, PlaygroundTools.render(...) per kept message.
"use strict";
window.PlaygroundTools = (function () {
  const panel = document.getElementById("tools-panel");
  if (!panel) return null;
  const s = panel.dataset;
  const area = document.getElementById("id_tools");
  const choice = document.getElementById("id_tool_choice");
  const group = document.getElementById("tool-choice-functions");
  const count = panel.querySelector(".tools-count");

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key] === undefined ? "" : values[key]; });
  }
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // The function names of the box's tools; null while it is not a JSON list (the choices then stay as they were).
  function names() {
    let tools;
    try { tools = JSON.parse(area.value); } catch (e) { return area.value.trim() ? null : []; }
    if (!Array.isArray(tools)) return null;
    return tools.map(function (t) { return t && t.function && t.function.name; })
      .filter(function (n) { return typeof n === "string" && n; });
  }
  function refreshChoice(wanted) {
    const list = names();
    if (list === null) return;
    const current = wanted || choice.value;
    group.replaceChildren();
    list.forEach(function (name) { group.appendChild(new Option(name, name)); });
    group.hidden = !list.length;
    choice.value = Array.from(choice.options).some(function (o) { return o.value === current; }) ? current : "auto";
    count.textContent = list.length ? "· " + fill(s.count, {n: list.length}) : "";
  }
  area.addEventListener("input", function () { refreshChoice(); });
  refreshChoice();

  document.getElementById("tools-example").addEventListener("click", function () {
    if (area.value.trim() && !window.confirm(s.replace)) return;
    area.value = JSON.stringify([{type: "function", function: {
      name: "get_weather", description: s.exampleDescription,
      parameters: {type: "object", properties: {city: {type: "string", description: s.exampleCity}}, required: ["city"]},
    }}], null, 2);
    refreshChoice();
    area.focus();
  });

  // A mistake the server names in the panel (invalid JSON, a tool without a name) must be seen even when folded.
  new MutationObserver(function () {
    if (panel.querySelector(".errorlist li")) panel.open = true;
  }).observe(panel, {childList: true, subtree: true});

  function pretty(args) {
    try { return JSON.stringify(JSON.parse(args), null, 2); } catch (e) { return args; }  // still arriving
  }
  function callBubble(call) {
    const node = el("div", "bubble assistant tool-call");
    node.appendChild(el("span", "who", fill(s.call, {name: call.function.name})));
    node.appendChild(el("pre", "tool-args", pretty(call.function.arguments)));
    return node;
  }
  function nearEnd(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 40; }

  // A run's tool_call lines: pieces of each call joined by index (name and id first, then argument fragments).
  function start(view, box) {
    const calls = view.calls = [];
    const nodes = [];
    view.toolCall = function (event) {
      const call = calls[event.index] = calls[event.index] ||
        {id: "", type: "function", function: {name: "", arguments: ""}};
      call.id = call.id || event.id;
      call.function.name = call.function.name || event.name;
      call.function.arguments += event.arguments || "";
      const atEnd = nearEnd(box);
      if (!nodes[event.index]) {
        nodes[event.index] = callBubble(call);
        box.appendChild(nodes[event.index]);
      }
      nodes[event.index].querySelector(".who").textContent = fill(s.call, {name: call.function.name});
      nodes[event.index].querySelector(".tool-args").textContent = pretty(call.function.arguments);
      if (atEnd || event.index === 0) box.scrollTop = box.scrollHeight;
    };
  }

  // The assistant's message as the conversation keeps it: its text, and its calls when it made any.
  function message(text, calls) {
    const kept = {role: "assistant", content: text || ""};
    const made = (calls || []).filter(Boolean);
    if (made.length) kept.tool_calls = made;
    return kept;
  }

  function nameOf(conversation, id) {
    for (const m of conversation) {
      for (const call of m.tool_calls || []) if (call.id === id) return call.function.name;
    }
    return "";
  }

  // A kept message with tool calls, or a tool's result: drawn here (true), else left to playground.js (false).
  function render(box, msg, conversation, index, bubble) {
    if (msg.role === "tool") {
      const node = el("div", "bubble tool-result");
      node.appendChild(el("span", "who", fill(s.said, {name: nameOf(conversation, msg.tool_call_id)})));
      node.appendChild(el("pre", "tool-args", pretty(msg.content)));
      box.appendChild(node);
      return true;
    }
    if (msg.role !== "assistant" || !msg.tool_calls || !msg.tool_calls.length) return false;
    if (msg.content) bubble("assistant", msg.content);
    const later = conversation.slice(index + 1);
    const last = !later.some(function (m) { return m.role === "assistant" || m.role === "user"; });
    msg.tool_calls.forEach(function (call) {
      const node = callBubble(call);
      const answered = later.some(function (m) { return m.role === "tool" && m.tool_call_id === call.id; });
      if (last && !answered) node.appendChild(answerBox(call, msg));
      box.appendChild(node);
    });
    return true;
  }

  // "Tool result": the function's answer to this call, added to the conversation; once every call of the message
  // is answered, the conversation runs again for the model's answer.
  function answerBox(call, msg) {
    const wrap = el("div", "tool-answer");
    const id = "tool-result-" + (call.id || "call").replace(/[^\w-]/g, "");
    const label = el("label", null, s.result);
    label.htmlFor = id;
    const text = el("textarea");
    text.id = id;
    text.rows = 3;
    text.placeholder = s.resultPlaceholder;
    const errors = el("ul", "errorlist");
    const send = el("button", "primary", s.send);
    send.type = "button";
    function submit() {
      errors.replaceChildren();
      if (!text.value.trim()) { errors.appendChild(el("li", null, s.emptyResult)); text.focus(); return; }
      window.Playground.answerTool({role: "tool", tool_call_id: call.id, content: text.value}, function (conversation) {
        return msg.tool_calls.every(function (c) {
          return conversation.some(function (m) { return m.role === "tool" && m.tool_call_id === c.id; });
        });
      });
    }
    send.addEventListener("click", submit);
    text.addEventListener("keydown", function (event) {  // Ctrl+Enter sends this result, not the prompt
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        event.stopPropagation();
        submit();
      }
    });
    wrap.append(label, text, errors, send);
    return wrap;
  }

  // A reopened run's tools back in the panel (a run without tools leaves the panel as it is).
  function restore(tools) {
    if (!tools || !tools.definitions) return;
    area.value = JSON.stringify(tools.definitions, null, 2);
    refreshChoice(tools.choice || "auto");
  }

  return {start: start, message: message, render: render, restore: restore};
})();
