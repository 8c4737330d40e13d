// Playground: ready-to-run code (curl, Python openai, Python huggingface_hub) for the current model and parameters;
// for an embeddings model curl and openai's embeddings.create, for a reranker curl and Python requests.
"use strict";
(function () {
  const box = document.getElementById("api-code");
  const form = document.getElementById("playground-form");
  const dataNode = document.getElementById("api-code-data");
  if (!box || !form || !dataNode) return;
  const data = JSON.parse(dataNode.textContent);
  const out = document.getElementById("api-code-snippet");
  const vectorsForm = document.getElementById("vectors-form");
  let kind = "curl";

  function number(name) {
    const input = form.elements[name];
    if (!input || input.value.trim() === "") return undefined;
    const value = Number(input.value);
    return Number.isFinite(value) ? value : undefined;
  }

  function lines(name, fallback) {  // as the console reads the field: one text per non-empty line, trimmed
    const input = vectorsForm && vectorsForm.elements[name];
    const found = input ? input.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean) : [];
    return found.length ? found : fallback;
  }

  function text(name, fallback) {
    const input = vectorsForm && vectorsForm.elements[name];
    return (input && input.value.trim()) || fallback;
  }

  function current() {
    const model = data.models[form.elements.model.value] || {id: "MODEL", chat: true};
    if (model.task === "feature-extraction") {
      return {model: model, vectors: "embeddings", texts: lines("texts", ["The sky is blue.", "The sea is blue."])};
    }
    if (model.task === "text-ranking") {
      return {model: model, vectors: "rerank", query: text("query", "What is deep learning?"),
              documents: lines("documents", ["Deep learning is a kind of machine learning.", "Paris is in France."])};
    }
    const prompt = (form.elements.prompt && form.elements.prompt.value.trim()) || "Hello!";
    const system = form.elements.system ? form.elements.system.value.trim() : "";
    // As the console reads the stop box: one sequence per non-empty line, spaces kept, \n \t \\ unescaped.
    const unescape = function (s) {
      return s.replace(/\\[nt\\]/g, function (m) { return {"\\n": "\n", "\\t": "\t", "\\\\": "\\"}[m]; });
    };
    const stop = form.elements.stop_sequences ?
      form.elements.stop_sequences.value.split("\n").filter(function (s) { return s !== ""; }).map(unescape) : [];
    const params = {max_tokens: number("max_new_tokens"), temperature: number("temperature"), top_p: number("top_p"),
                    seed: number("seed")};
    if (stop.length) params.stop = stop;
    const extra = model.chat ? {} : {top_k: number("top_k"), repetition_penalty: number("repetition_penalty")};
    [params, extra].forEach(function (o) { Object.keys(o).forEach(function (k) { if (o[k] === undefined) delete o[k]; }); });
    const image = model.chat ? attached() : null;
    const content = image ? [{type: "text", text: prompt}, {type: "image_url", image_url: {url: IMAGE}}] : prompt;
    const messages = (system ? [{role: "system", content: system}] : []).concat([{role: "user", content: content}]);
    if (model.chat) Object.assign(params, tools());
    const stream = !!(form.elements.stream && form.elements.stream.checked);
    return {model: model, prompt: prompt, messages: messages, params: params, extra: extra, stream: stream,
            image: image};
  }

  // The image attached to the message, as a file of that name beside the code: its bytes, base64, would make the
  // snippet as long as the image is large. The code reads the file into the data: URL the playground sends.
  const IMAGE = "\u0000image\u0000";  // where the code puts the data: URL (no JSON text can hold a bare NUL)
  function attached() {
    const hidden = form.elements.image;
    if (!hidden || !hidden.value.startsWith("data:")) return null;
    const chosen = document.getElementById("image-file");
    const name = chosen && chosen.files && chosen.files[0] ? chosen.files[0].name : "image";
    return {name: name, prefix: hidden.value.slice(0, hidden.value.indexOf(",") + 1)};
  }
  const IMAGE_JSON = JSON.stringify(IMAGE);

  // Python: the file read into `image` first, the placeholder in the arguments replaced by that name.
  function pyImage(c, code) {
    if (!c.image) return code;
    const read = "with open(" + py(c.image.name) + ", \"rb\") as f:\n    image = " + py(c.image.prefix) +
      " + base64.b64encode(f.read()).decode()\n\n";
    return "import base64\n" + code.replace(/\n\n(client = )/, "\n\n" + read + "$1").split(IMAGE_JSON).join("image");
  }

  // The Tools panel's definitions and choice, as the console sends them on: nothing while the box is empty or not
  // a JSON list (the run would be refused and the panel says why), "auto" left out as the default it is.
  function tools() {
    const area = form.elements.tools;
    let list;
    try { list = JSON.parse(area ? area.value : ""); } catch (e) { return {}; }
    if (!Array.isArray(list) || !list.length) return {};
    const choice = form.elements.tool_choice ? form.elements.tool_choice.value : "auto";
    if (!choice || choice === "auto") return {tools: list};
    return {tools: list, tool_choice: choice === "none" || choice === "required" ? choice :
      {type: "function", "function": {name: choice}}};
  }

  function py(value) {  // a JSON value written as Python
    return JSON.stringify(value, null, 4).replace(/\btrue\b/g, "True").replace(/\bfalse\b/g, "False")
      .replace(/\bnull\b/g, "None").replace(/\n/g, "\n    ");
  }

  function kwargs(obj) {
    return Object.keys(obj).map(function (k) { return "    " + k + "=" + py(obj[k]) + ",\n"; }).join("");
  }

  function vectorBody(c) {
    return c.vectors === "embeddings" ? {model: c.model.id, input: c.texts} :
      {model: c.model.id, query: c.query, documents: c.documents, return_documents: true};
  }

  function curl(c) {
    const route = c.vectors ? "/" + c.vectors : (c.model.chat ? "/chat/completions" : "/completions");
    const body = c.vectors ? vectorBody(c) :
      Object.assign({model: c.model.id}, c.model.chat ? {messages: c.messages} : {prompt: c.prompt},
                    c.params, c.extra, c.stream ? {stream: true} : {});
    const shell = function (text) { return "'" + text.replace(/'/g, "'\\''") + "'"; };
    let json = shell(JSON.stringify(body, null, 2));
    if (c.image) {  // the file's base64 spliced into the quoted body by the shell (tr: GNU base64 wraps lines)
      json = json.split(IMAGE_JSON).join("\"" + c.image.prefix + "'\"$(base64 < " + shell(c.image.name) +
        " | tr -d '\\n')\"'\"");
    }
    return "curl " + data.base + route + (c.stream ? " -N" : "") + " \\\n" +
      "  -H \"Authorization: Bearer $CONSOLE_API_KEY\" \\\n" +
      "  -H \"Content-Type: application/json\" \\\n" +
      "  -d " + json + "\n";
  }

  function openai(c) {
    const head = "import os\n\nfrom openai import OpenAI\n\n" +
      "client = OpenAI(base_url=\"" + data.base + "\", api_key=os.environ[\"CONSOLE_API_KEY\"])\n";
    if (c.vectors) {
      return head + "response = client.embeddings.create(\n    model=" + py(c.model.id) + ",\n    input=" + py(c.texts) +
        ",\n)\nfor item in response.data:\n    print(item.index, len(item.embedding), item.embedding[:4])\n";
    }
    const args = "    model=" + py(c.model.id) + ",\n" +
      (c.model.chat ? "    messages=" + py(c.messages) + ",\n" : "    prompt=" + py(c.prompt) + ",\n") +
      kwargs(c.params) + (Object.keys(c.extra).length ? "    extra_body=" + py(c.extra) + ",\n" : "") +
      (c.stream ? "    stream=True,\n" : "");
    const call = c.model.chat ? "client.chat.completions.create(\n" : "client.completions.create(\n";
    if (c.model.chat) return head + chatCall(c, call, args);
    if (c.stream) {
      return head + "stream = " + call + args + ")\nfor chunk in stream:\n    if chunk.choices:\n" +
        "        print(chunk.choices[0].text, end=\"\", flush=True)\nprint()\n";
    }
    return head + "response = " + call + args + ")\nprint(response.choices[0].text)\n";
  }

  // A chat call and what it prints, the same in openai and huggingface_hub (both answer in OpenAI's shape). With
  // tools the model may answer with a call, not text: its name and arguments are printed (streamed, piece by piece).
  function chatCall(c, call, args) {
    const tools = !!c.params.tools;
    if (c.stream) {
      return "stream = " + call + args + ")\nfor chunk in stream:\n    if chunk.choices:\n" +
        (tools ? "        for tool_call in chunk.choices[0].delta.tool_calls or []:\n" +
          "            print(tool_call.function.name or \"\", tool_call.function.arguments or \"\", end=\"\", flush=True)\n" : "") +
        "        print(chunk.choices[0].delta.content or \"\", end=\"\", flush=True)\nprint()\n";
    }
    if (!tools) return "response = " + call + args + ")\nprint(response.choices[0].message.content)\n";
    return "response = " + call + args + ")\nmessage = response.choices[0].message\n" +
      "for tool_call in message.tool_calls or []:\n    print(tool_call.function.name, tool_call.function.arguments)\n" +
      "if message.content:\n    print(message.content)\n";
  }

  function hf(c) {
    const head = "import os\n\nfrom huggingface_hub import InferenceClient\n\n";
    if (!c.model.chat) {
      const params = {max_new_tokens: c.params.max_tokens, temperature: c.params.temperature, top_p: c.params.top_p,
                      seed: c.params.seed, stop: c.params.stop, top_k: c.extra.top_k,
                      repetition_penalty: c.extra.repetition_penalty};
      Object.keys(params).forEach(function (k) { if (params[k] === undefined) delete params[k]; });
      const client = "client = InferenceClient(base_url=\"" + data.base + "/models/" + c.model.id +
        "\", api_key=os.environ[\"CONSOLE_API_KEY\"])\n";
      const args = "    " + py(c.prompt) + ",\n" + kwargs(params) + (c.stream ? "    stream=True,\n" : "");
      return head + client + (c.stream ? "for token in client.text_generation(\n" + args +
        "):\n    print(token, end=\"\", flush=True)\nprint()\n" : "print(client.text_generation(\n" + args + "))\n");
    }
    const client = "client = InferenceClient(base_url=\"" + data.base + "\", api_key=os.environ[\"CONSOLE_API_KEY\"])\n";
    const args = "    " + py(c.messages) + ",\n    model=" + py(c.model.id) + ",\n" + kwargs(c.params) +
      (c.stream ? "    stream=True,\n" : "");
    return head + client + chatCall(c, "client.chat_completion(\n", args);
  }

  // Rerank has no route in the openai package: plain HTTP, as rerank clients send it.
  function requests(c) {
    return "import os\n\nimport requests\n\nresponse = requests.post(\n    " + py(data.base + "/rerank") + ",\n" +
      "    headers={\"Authorization\": \"Bearer \" + os.environ[\"CONSOLE_API_KEY\"]},\n" +
      "    json=" + py(vectorBody(c)) + ",\n    timeout=60,\n)\nresponse.raise_for_status()\n" +
      "for result in response.json()[\"results\"]:\n" +
      "    print(round(result[\"relevance_score\"], 4), result[\"document\"][\"text\"])\n";
  }

  const writers = {curl: curl, openai: function (c) { return pyImage(c, openai(c)); },
                   hf: function (c) { return pyImage(c, hf(c)); }, requests: requests};
  // The clients each kind of model has: huggingface_hub only generates here, openai has no rerank.
  const offered = {generation: ["curl", "openai", "hf"], embeddings: ["curl", "openai"], rerank: ["curl", "requests"]};

  function render() {
    const c = current();
    const kinds = offered[c.vectors || "generation"];
    box.querySelectorAll("[data-snippet]").forEach(function (b) { b.hidden = kinds.indexOf(b.dataset.snippet) < 0; });
    if (kinds.indexOf(kind) < 0) {
      kind = "curl";
      box.querySelectorAll("[data-snippet]").forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.snippet === kind)); });
    }
    out.textContent = writers[kind](c);
  }

  box.querySelectorAll("[data-snippet]").forEach(function (button) {
    button.addEventListener("click", function () {
      kind = button.dataset.snippet;
      box.querySelectorAll("[data-snippet]").forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
      render();
    });
  });
  form.addEventListener("input", render);
  box.addEventListener("toggle", render);  // opened: what the form holds now (the tools example fills it unannounced)
  if (vectorsForm) vectorsForm.addEventListener("input", render);
  form.addEventListener("change", function () { setTimeout(render, 0); });  // after the model's defaults are filled in
  render();
})();
