// The create form (templates/apikeys/key_create.html), improved: everything
// here also works without JavaScript, where the server does the same.
(function () {
  "use strict";

  function boxes(root) {
    return Array.prototype.slice.call((root || document).querySelectorAll('input[name="permissions"]'));
  }

  function isDangerous(box) {
    return box.hasAttribute("data-dangerous");
  }

  // -- Per-group "select all": it skips the dangerous permissions, and so does its state --
  function syncGroup(fieldset) {
    const all = fieldset.querySelector("[data-select-all]");
    if (!all) return;
    const safe = boxes(fieldset).filter(function (box) { return !isDangerous(box); });
    const checked = safe.filter(function (box) { return box.checked; }).length;
    all.checked = safe.length > 0 && checked === safe.length;
    all.indeterminate = checked > 0 && checked < safe.length;
  }

  function syncWarning() {
    const manage = document.querySelector("[data-manage-permission]");
    const warning = document.getElementById("manage-warning");
    if (warning) warning.hidden = !(manage && manage.checked);
  }

  // -- The summary before Create: a count, and the labels with the dangerous ones flagged --
  function syncSummary() {
    const summary = document.getElementById("permission-summary");
    const count = document.getElementById("selection-count");
    const list = document.getElementById("selection-list");
    if (!summary || !count || !list) return;
    const chosen = boxes().filter(function (box) { return box.checked; });
    if (chosen.length === 0) {
      count.textContent = summary.dataset.emptyText;
    } else {
      const template = chosen.length === 1 ? summary.dataset.countOne : summary.dataset.countOther;
      count.textContent = template.replace("%(count)s", String(chosen.length));
    }
    const items = [];
    chosen.forEach(function (box, index) {
      const item = document.createElement("span");
      item.className = "selected-perm";
      item.textContent = box.dataset.label;
      if (isDangerous(box)) {
        const badge = document.createElement("span");
        badge.className = "danger-badge";
        badge.textContent = summary.dataset.dangerousText;
        item.appendChild(document.createTextNode(" "));
        item.appendChild(badge);
      }
      items.push(item);
      if (index < chosen.length - 1) items.push(document.createTextNode(", "));
    });
    list.replaceChildren.apply(list, items);
  }

  function syncAll() {
    document.querySelectorAll("[data-group]").forEach(syncGroup);
    syncWarning();
    syncSummary();
  }

  function setLeftOut(shown) {
    const line = document.getElementById("dangerous-left-out");
    if (line) line.hidden = !shown;
  }

  // -- Presets: applied in place, keeping what was typed (the links work without JS) --
  const PRESETS = {
    read: function (box) { return box.hasAttribute("data-read-only"); },
    all: function (box) { return !isDangerous(box); },
    "all-with-dangerous": function (box) { return true; },
    none: function () { return false; },
  };

  document.addEventListener("click", function (event) {
    const link = event.target.closest("[data-preset]");
    if (!link || !PRESETS[link.dataset.preset]) return;
    event.preventDefault();
    const name = link.dataset.preset;
    boxes().forEach(function (box) {
      if (name === "all-with-dangerous") {
        // Confirmed: the dangerous ones are added to what is ticked.
        if (isDangerous(box)) box.checked = true;
      } else {
        box.checked = PRESETS[name](box);
      }
    });
    syncAll();
    setLeftOut(name === "all");
    if (name === "all-with-dangerous") {
      // The line (and its link) is gone: show where the dangerous ones are.
      const first = boxes().filter(isDangerous)[0];
      if (first) first.focus();
    }
  });

  document.addEventListener("change", function (event) {
    const target = event.target;
    const fieldset = target.closest && target.closest("[data-group]");
    if (!fieldset) return;
    if (target.matches("[data-select-all]")) {
      boxes(fieldset).forEach(function (box) {
        if (!isDangerous(box)) box.checked = target.checked;
      });
    }
    if (isDangerous(target)) setLeftOut(false);
    syncAll();
  });

  // -- The expiry: the date only with "On a date", and what the choice means --
  function radios() {
    return Array.prototype.slice.call(document.querySelectorAll('input[name="expiration"]'));
  }

  function chosenExpiry() {
    const checked = radios().filter(function (radio) { return radio.checked; })[0];
    return checked || null;
  }

  function pad(number) {
    return (number < 10 ? "0" : "") + number;
  }

  // The UTC offset (minutes) of `zone` at the instant `ms`.
  function offsetAt(zone, ms) {
    const parts = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric",
    }).formatToParts(new Date(ms)).forEach(function (part) { parts[part.type] = part.value; });
    const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24, +parts.minute, +parts.second);
    return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
  }

  // The zone's abbreviation (as Django's "T" writes it) at 23:59 on that day.
  function zoneName(result, year, month, day) {
    const names = JSON.parse(result.dataset.zoneNames || "{}");
    const fallback = names[Object.keys(names)[0]] || "";
    try {
      const local = Date.UTC(year, month - 1, day, 23, 59);
      let offset = offsetAt(result.dataset.zone, local);
      offset = offsetAt(result.dataset.zone, local - offset * 60000);
      return names[String(offset)] || fallback;
    } catch (error) {
      return fallback;
    }
  }

  // A picked day at its end (23:59), in the pattern of the `when` filter
  // (Django's date format characters; the names come from the server).
  function formatEndOfDay(result, value) {
    const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    if (!match) return null;
    const year = +match[1];
    const month = +match[2];
    const day = +match[3];
    const weekday = (new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 6) % 7; // Monday = 0, as Django
    const data = result.dataset;
    const names = {
      D: JSON.parse(data.weekdays)[weekday],
      l: JSON.parse(data.weekdaysLong)[weekday],
      M: JSON.parse(data.months)[month - 1],
      F: JSON.parse(data.monthsLong)[month - 1],
    };
    const values = {
      d: pad(day), j: String(day), m: pad(month), n: String(month), Y: String(year), y: pad(year % 100),
      H: "23", G: "23", i: "59", s: "59", T: zoneName(result, year, month, day),
    };
    let text = "";
    const format = data.format;
    for (let index = 0; index < format.length; index++) {
      const character = format[index];
      if (character === "\\" && index + 1 < format.length) {
        text += format[++index];
      } else if (Object.prototype.hasOwnProperty.call(names, character)) {
        text += names[character];
      } else if (Object.prototype.hasOwnProperty.call(values, character)) {
        text += values[character];
      } else {
        text += character;
      }
    }
    return text;
  }

  function syncExpiry() {
    const result = document.getElementById("expiry-result");
    const field = document.getElementById("expires-on-field");
    const input = document.getElementById("id_expires_on");
    const chosen = chosenExpiry();
    if (!result || !input || !field) return;
    const custom = !!chosen && chosen.value === "custom";
    // Hidden and disabled otherwise, so that a date no one sees is never sent;
    // except a refused date, which stays with its error until it is cleared.
    const refused = input.getAttribute("aria-invalid") === "true" && input.value !== "";
    field.hidden = !custom && !refused;
    input.disabled = !custom && !refused;
    let text = "";
    if (custom) {
      const value = input.value;
      const formatted = value ? formatEndOfDay(result, value) : null;
      if (!formatted) {
        text = result.dataset.empty;
      } else if (input.min && value < input.min) {
        text = result.dataset.tooEarly;
      } else if (input.max && value > input.max) {
        text = result.dataset.tooLate;
      } else {
        text = result.dataset.template.replace("%(date)s", formatted);
      }
    } else if (chosen) {
      text = chosen.dataset.expiryText || "";
    }
    if (result.textContent !== text) result.textContent = text;
  }

  document.addEventListener("change", function (event) {
    if (event.target.name === "expiration") {
      syncExpiry();
    }
  });

  // Typing or picking a date means "On a date".
  function datePicked(event) {
    if (event.target.id !== "id_expires_on") return;
    const custom = radios().filter(function (radio) { return radio.value === "custom"; })[0];
    if (event.target.value && custom && !custom.checked) custom.checked = true;
    syncExpiry();
  }
  document.addEventListener("input", datePicked);
  document.addEventListener("change", datePicked);

  // -- The error summary: focused on load; its links focus their field --
  function focusSummary() {
    const summary = document.getElementById("error-summary");
    if (summary && document.activeElement !== summary && !summary.contains(document.activeElement)) {
      summary.focus();
    }
  }

  document.addEventListener("click", function (event) {
    const link = event.target.closest("[data-error-link]");
    if (!link) return;
    const input = document.getElementById(link.getAttribute("href").slice(1));
    if (!input) return;
    event.preventDefault();
    // Show the question with its field: the label or the group's legend.
    const group = input.closest("fieldset");
    const label = input.type === "radio" || input.type === "checkbox"
      ? group && group.querySelector("legend")
      : document.querySelector('label[for="' + input.id + '"]');
    (label || input).scrollIntoView();
    input.focus({ preventScroll: true });
  });

  // -- Create: "Creating…" until the answer comes, and no second submission --
  function busyButton(form) {
    return form.querySelector("button[data-busy-text]");
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.id !== "create-form") return;
    if (form.getAttribute("aria-busy") === "true") {
      event.preventDefault();
      return;
    }
    const button = busyButton(form);
    form.setAttribute("aria-busy", "true");
    if (button) {
      button.dataset.idleText = button.textContent;
      button.textContent = button.dataset.busyText;
      button.setAttribute("aria-disabled", "true");
      // After this submission has started: disabling now could cancel it. Not
      // if the page came back (pageshow below) before this ran.
      setTimeout(function () {
        if (form.getAttribute("aria-busy") === "true") button.disabled = true;
      }, 0);
    }
  });

  // Back from the next page (the back/forward cache): the form works again.
  window.addEventListener("pageshow", function (event) {
    const form = document.getElementById("create-form");
    if (!form || !event.persisted) return;
    form.removeAttribute("aria-busy");
    const button = busyButton(form);
    if (button && button.dataset.idleText) {
      button.textContent = button.dataset.idleText;
      button.removeAttribute("aria-disabled");
      button.disabled = false;
    }
  });

  function start() {
    // "Select all" needs JavaScript, so it is only shown with it.
    document.querySelectorAll(".select-all[hidden]").forEach(function (label) { label.hidden = false; });
    syncAll();
    syncExpiry();
    focusSummary();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
