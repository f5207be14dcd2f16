// Progressive enhancement for the console. Everything here also works
// without JavaScript: links and forms are real links and forms.
(function () {
  "use strict";

  // Controls that only browsers without JavaScript need ([data-no-js-only]:
  // the Filter and language buttons) are hidden by the stylesheet from here on.
  document.documentElement.classList.add("js");

  // -- The language switcher applies on change --
  document.addEventListener("change", function (event) {
    if (event.target.id === "language-select") event.target.form.submit();
  });

  // -- While the key list loads (live filtering), say so --
  document.addEventListener("htmx:beforeRequest", function (event) {
    const target = event.detail.target;
    if (target && target.id === "key-list") target.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    const target = event.detail.target;
    if (target && target.id === "key-list") target.removeAttribute("aria-busy");
  });

  // -- The revoke confirmation <dialog>, loaded by htmx into #dialog-slot --
  let lastOpener = null;

  document.addEventListener("htmx:beforeRequest", function (event) {
    const source = event.detail.elt;
    if (source && source.getAttribute("hx-target") === "#dialog-slot") {
      lastOpener = source;
    }
  });

  function closeDialog(dialog) {
    if (dialog.open) dialog.close();
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    const dialog = event.detail.target.querySelector && event.detail.target.querySelector("dialog");
    if (!dialog || dialog.open) return;
    dialog.addEventListener("close", function () {
      dialog.remove();
      // Back to where the user was: the link that opened it, if still there.
      const opener = lastOpener && document.contains(lastOpener) ? lastOpener : null;
      if (opener) {
        opener.focus();
      } else if (dialog.dataset.opener) {
        const row = document.getElementById(dialog.dataset.opener);
        const name = row && row.querySelector(".key-name");
        if (name) focusable(name).focus();
      }
      lastOpener = null;
    });
    dialog.showModal();
  });

  document.addEventListener("click", function (event) {
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      const dialog = closer.closest("dialog");
      if (dialog) closeDialog(dialog);
    }
  });

  // After a revoke, the row is swapped in place; close the dialog.
  let revokedRow = null;
  document.addEventListener("apikeys:revoked", function (event) {
    revokedRow = event.detail && event.detail.public_id ? "key-" + event.detail.public_id : null;
    const dialog = document.getElementById("revoke-dialog");
    if (dialog) {
      lastOpener = null;
      closeDialog(dialog);
    }
  });

  // Once the new row is in: announce the result through the page's live
  // region (#messages exists from the start, so screen readers read changes to
  // it; a status element swapped in with its text often is not read), and put
  // focus on the entry, as its Revoke link is gone.
  document.addEventListener("htmx:afterSettle", function () {
    if (!revokedRow) return;
    const row = document.getElementById(revokedRow);
    revokedRow = null;
    if (!row) return;
    const status = row.querySelector('[role="status"]');
    const messages = document.getElementById("messages");
    if (status && messages) {
      const message = document.createElement("p");
      message.className = "message message-success";
      message.textContent = status.textContent;
      status.remove();
      messages.replaceChildren(message);
    }
    const name = row.querySelector(".key-name");
    if (name) focusable(name).focus();
  });

  function focusable(element) {
    if (element.tabIndex < 0 && !element.hasAttribute("tabindex")) element.setAttribute("tabindex", "-1");
    return element;
  }
})();
