// Model form: show only the fields that apply to the chosen endpoint type (the server validates anyway).
"use strict";
(function () {
  const form = document.getElementById("model-form");
  if (!form) return;
  // The tasks each endpoint type allows, as the server's form checks them (one list, in forms.TASKS_BY_TYPE).
  const TASKS = JSON.parse(document.getElementById("tasks-by-type").textContent);

  function currentType() {
    const checked = form.querySelector("input[name=endpoint_type]:checked");
    return checked ? checked.value : "";
  }

  function update() {
    const type = currentType();
    form.querySelectorAll("[data-show-for]").forEach(function (el) {
      el.hidden = !type || el.dataset.showFor.split(" ").indexOf(type) < 0;
    });
    const task = form.querySelector("select[name=task]");
    if (task && type) {
      Array.from(task.options).forEach(function (opt) {
        opt.hidden = opt.value !== "" && TASKS[type].indexOf(opt.value) < 0;
        opt.disabled = opt.hidden;
      });
      const allowed = Array.from(task.options).filter(function (o) { return !o.disabled && o.value; });
      const current = task.selectedOptions.length ? task.selectedOptions[0] : null;
      if ((current && current.disabled) || !task.value) task.value = allowed[0].value;
    }
    const repoField = form.querySelector('[data-field="repo_id"]');
    if (repoField) repoField.classList.toggle("optional", type === "inference_endpoint");
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "endpoint_type") update();
  });
  update();
})();
