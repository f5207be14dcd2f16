// Copy buttons (the console's and the admin's view-once pages): a button with
// data-copy-target copies the value of the field with that id and says so in
// #copy-status. A static file: both pages' Content-Security-Policy allows no
// inline script.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const field = document.getElementById(button.dataset.copyTarget);
    if (!field) return;
    const status = document.getElementById("copy-status");
    const copied = button.dataset.copiedText || "Copied";
    // The label to go back to, read once: a second click within the two
    // seconds must not make "Copied" the label for good.
    if (!button.dataset.label) button.dataset.label = button.textContent;
    const done = function () {
      button.textContent = copied;
      if (status) status.textContent = copied;
      clearTimeout(button.copyTimer);
      button.copyTimer = setTimeout(function () { button.textContent = button.dataset.label; }, 2000);
    };
    const fallback = function () {
      field.select();
      document.execCommand("copy");
      done();
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, fallback);
    } else {
      fallback();
    }
  });
})();
