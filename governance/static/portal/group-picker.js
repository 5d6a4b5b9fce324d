// Group pickers (templates/admin/accounts/includes/group_picker.html): a text box that asks the
// admin's autocomplete view for matching groups as you type and keeps the chosen group's id in a
// hidden field. Deferred, so every picker on the page exists when this runs; a page that includes
// the picker twice loads this twice, and each picker is set up once.
(function () {
  "use strict";

  function setUp(picker) {
    if (picker.dataset.ready) return;
    picker.dataset.ready = "1";
    const text = picker.querySelector("input[type=text]");
    const hidden = picker.querySelector("input[type=hidden]");
    const options = picker.querySelector("datalist");
    const error = picker.querySelector(".picker-error");
    const known = {};
    if (hidden.value && text.value) known[text.value] = hidden.value;
    let timer = null;
    text.addEventListener("input", function () {
      hidden.value = known[text.value] || "";
      error.hidden = true;
      clearTimeout(timer);
      const term = text.value.trim();
      if (!term) return;
      timer = setTimeout(async function () {
        const response = await fetch(picker.dataset.url + "&term=" + encodeURIComponent(term), {credentials: "same-origin"});
        if (!response.ok) return;
        const data = await response.json();
        options.replaceChildren();
        for (const item of data.results) {
          known[item.text] = item.id;
          const option = document.createElement("option");
          option.value = item.text;
          options.appendChild(option);
        }
        hidden.value = known[text.value] || "";
      }, 200);
    });
    picker.closest("form").addEventListener("submit", function (event) {
      if (!hidden.value) {
        event.preventDefault();
        error.textContent = "Pick a group from the suggestions.";
        error.hidden = false;
      }
    });
  }

  document.querySelectorAll("[data-group-picker]").forEach(setUp);
})();
