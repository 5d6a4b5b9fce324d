// The accounts list's group filter (templates/admin/accounts/account/filter_group.html): the
// picker's hidden field carries the group id, and the chosen radio button names it (group or
// not_group). Loaded after group-picker.js, so the picker's own check runs first on submit.
(function () {
  "use strict";
  const form = document.getElementById("group-filter-form");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    if (event.defaultPrevented) return;
    const modes = form.querySelectorAll("input[name=group_mode]");
    form.querySelector("[data-group-picker] input[type=hidden]").name = form.querySelector("input[name=group_mode]:checked").value;
    modes.forEach(function (radio) { radio.disabled = true; });
  });
})();
