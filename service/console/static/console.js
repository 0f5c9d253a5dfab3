// The console's keyboard shortcuts and small helpers. No build step: plain ES2020.
(function () {
  "use strict";

  // The browser's time zone, so dates are shown in the moderator's own (read by the server).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("console_tz=" + zone) < 0) {
      document.cookie = "console_tz=" + zone + "; path=/console; max-age=31536000; SameSite=Strict; Secure";
    }
  } catch (e) { /* no Intl: the site's default zone */ }

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.row")); }
  function current() { return document.querySelector("tr.row.current"); }

  function focusRow(row) {
    if (!row) return;
    rows().forEach(function (r) { r.classList.remove("current"); r.removeAttribute("aria-current"); });
    row.classList.add("current");
    row.setAttribute("aria-current", "true");
    row.focus();
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var i = all.indexOf(current());
    focusRow(all[Math.max(0, Math.min(all.length - 1, i < 0 ? 0 : i + step))]);
  }

  function updateSelected() {
    var n = document.querySelectorAll('input[name="item"]:checked').length;
    var out = document.querySelector("#selected-count b");
    if (out) out.textContent = String(n);
  }

  var rejectRow = null;
  function openReject(row) {
    var dialog = document.getElementById("reject-dialog");
    if (!dialog || !row) return;
    rejectRow = row;
    dialog.querySelector('input[name="version"]').value = row.dataset.version;
    dialog.showModal();
    dialog.querySelector("select").focus();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "reject-form" || !rejectRow) return;
    event.preventDefault();
    var row = rejectRow;
    var values = {};
    new FormData(form).forEach(function (v, k) { values[k] = v; });
    document.getElementById("reject-dialog").close();
    htmx.ajax("POST", row.dataset.decide, { target: row, swap: "outerHTML", values: values })
      .then(function () { var again = document.getElementById(row.id); if (again) focusRow(again); });
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.closest("[data-help]")) document.getElementById("help").showModal();
    if (target.closest("[data-close]")) target.closest("dialog").close();
    if (target.closest("[data-reject]")) openReject(target.closest("tr.row"));
    var row = target.closest("tr.row");
    if (row && !target.closest("button, a, input")) focusRow(row);
  });
  document.addEventListener("change", function (event) {
    if (event.target.name === "item") updateSelected();
  });
  // keep the current row after htmx swaps it (a decision, an undo)
  document.addEventListener("htmx:afterSwap", function (event) {
    var t = event.detail.target;
    if (t && t.id && t.id.indexOf("row-") === 0) {
      var fresh = document.getElementById(t.id);
      if (fresh) focusRow(fresh);
    }
  });

  function typing(event) {
    var el = event.target;
    return el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    if (document.querySelector("dialog[open]")) return;
    var key = event.key;
    var detail = document.querySelector(".detail");
    if (key === "?") { document.getElementById("help").showModal(); event.preventDefault(); return; }
    if (detail) {
      if (key === "a") { document.querySelector("#decision-form button.approve").click(); event.preventDefault(); }
      if (key === "r") {
        var reason = document.getElementById("reason");
        if (reason.value) document.querySelector("#decision-form button.reject").click();
        else reason.focus();
        event.preventDefault();
      }
      return;
    }
    if (key === "j") { move(1); event.preventDefault(); }
    else if (key === "k") { move(-1); event.preventDefault(); }
    else if (key === "Enter" && current()) { window.location = current().dataset.detail; }
    else if (key === "x" && current()) {
      var box = current().querySelector('input[name="item"]');
      box.checked = !box.checked; updateSelected(); event.preventDefault();
    } else if (key === "a" && current()) {
      var approve = current().querySelector("button.approve");
      if (approve) approve.click();
      event.preventDefault();
    } else if (key === "r" && current()) {
      if (current().querySelector("button.reject")) openReject(current());
      event.preventDefault();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.querySelector(".detail") && rows().length) focusRow(rows()[0]);
  });
})();
