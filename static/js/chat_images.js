// Playground chat: an image attached to the next message (a file read into a data: URL, size-checked before it
// is sent, previewed), and the images of a conversation shown in its bubbles. Shown only for chat models that
// read images. playground.js asks it for a message's content (ChatImages.userContent) and draws bubbles with it.
"use strict";
window.ChatImages = (function () {
  const box = document.getElementById("image-attach");
  const models = JSON.parse((document.getElementById("models-data") || {}).textContent || "[]");
  const select = document.getElementById("id_model");
  const s = box ? box.dataset : {};
  const hidden = box && box.querySelector("#id_image");
  const file = box && box.querySelector("#image-file");
  const preview = box && box.querySelector(".image-preview");
  const errors = box && box.querySelector("[data-errors-for=image]");

  function modelOf() {
    return models.find(function (m) { return String(m.id) === (select && select.value); });
  }
  function showError(text) {
    errors.replaceChildren();
    if (text) { const li = document.createElement("li"); li.textContent = text; errors.appendChild(li); }
  }
  function clear() {
    if (!box) return;
    const had = hidden.value;
    hidden.value = "";
    file.value = "";
    preview.hidden = true;
    preview.querySelector("img").removeAttribute("src");
    showError("");
    if (had) hidden.dispatchEvent(new Event("input", {bubbles: true}));
  }
  function refresh() {
    if (!box) return;
    const model = modelOf();
    box.hidden = !(model && model.chat && model.images);
    if (box.hidden) clear();
  }
  if (box) {
    file.addEventListener("change", function () {
      const chosen = file.files && file.files[0];
      showError("");
      if (!chosen) return;
      if (!/^image\/(png|jpeg|gif|webp)$/.test(chosen.type)) { clear(); showError(s.notImage); return; }
      if (chosen.size > Number(s.maxBytes)) { clear(); showError(s.tooLarge); return; }
      const reader = new FileReader();
      reader.addEventListener("load", function () {
        hidden.value = reader.result;
        preview.querySelector("img").src = reader.result;
        preview.hidden = false;
        hidden.dispatchEvent(new Event("input", {bubbles: true}));  // the code snippets follow the form
      });
      reader.readAsDataURL(chosen);
    });
    preview.querySelector(".image-remove").addEventListener("click", clear);
    if (select) select.addEventListener("change", refresh);
    refresh();
  }

  // A message's text, whether its content is a string or OpenAI's content parts.
  function text(content) {
    if (typeof content === "string") return content;
    return (content || []).filter(function (p) { return p.type === "text"; }).map(function (p) { return p.text; }).join(" ");
  }
  // The images of a message, after its text in the bubble.
  function attach(node, content) {
    if (typeof content === "string" || !content) return;
    content.forEach(function (part) {
      if (part.type !== "image_url" || !/^data:image\//.test(part.image_url.url)) return;
      const img = document.createElement("img");
      img.className = "bubble-image";
      img.alt = s.imageAlt || "";
      img.src = part.image_url.url;
      node.appendChild(img);
    });
  }
  // What the next user message holds: the prompt, with the attached image as content parts.
  function userContent(prompt) {
    if (!hidden || !hidden.value) return prompt;
    return [{type: "text", text: prompt}, {type: "image_url", image_url: {url: hidden.value}}];
  }
  function hasImage() { return !!(hidden && hidden.value); }
  return {text: text, attach: attach, userContent: userContent, hasImage: hasImage, clear: clear};
})();
