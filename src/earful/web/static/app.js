// Earful inbox: CSRF header for htmx, keyboard shortcuts (j/k/o/a/e/r).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  document.addEventListener("htmx:configRequest", function (evt) {
    evt.detail.headers["X-CSRF-Token"] = csrf;
  });

  function post(url, fields) {
    var body = new URLSearchParams(fields || {});
    return fetch(url, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" },
      body: body,
      credentials: "same-origin",
    });
  }

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.row")); }
  function current() { return document.querySelector("tr.row.selected"); }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (row) { row.classList.add("selected"); row.setAttribute("aria-selected", "true"); row.scrollIntoView({ block: "nearest" }); }
  }
  function move(delta) {
    var all = rows();
    if (!all.length) return;
    var i = all.indexOf(current());
    select(all[Math.max(0, Math.min(all.length - 1, i < 0 ? 0 : i + delta))]);
  }
  function conversationId() {
    var conv = document.querySelector(".conversation[data-id]");
    if (conv) return conv.getAttribute("data-id");
    var row = current();
    return row ? row.getAttribute("data-id") : null;
  }

  document.addEventListener("keydown", function (evt) {
    var t = evt.target;
    if (evt.ctrlKey || evt.metaKey || evt.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    var id = conversationId();
    var onPage = !!document.querySelector(".conversation[data-id]");
    switch (evt.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "o": case "Enter":
        if (current()) window.location.href = current().getAttribute("data-href");
        break;
      case "a":
        if (id) post("/c/" + id + "/assign", { assignee: "me" }).then(function () { if (onPage) window.location.reload(); });
        break;
      case "e":
        if (id) post("/c/" + id + "/status", { status: "resolved" }).then(function () { if (onPage) window.location.reload(); });
        break;
      case "r":
        if (onPage) { var box = document.getElementById("reply-text"); if (box) { evt.preventDefault(); box.focus(); } }
        else if (current()) window.location.href = current().getAttribute("data-href") + "#reply-form";
        break;
      default: return;
    }
  });

  document.addEventListener("click", function (evt) {
    var row = evt.target.closest ? evt.target.closest("tr.row") : null;
    if (row && evt.target.tagName !== "A") select(row);
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (rows().length && !current()) select(rows()[0]);
    if (window.location.hash === "#reply-form") { var box = document.getElementById("reply-text"); if (box) box.focus(); }
  });
  document.addEventListener("htmx:afterSwap", function () {
    if (rows().length && !current()) select(rows()[0]);
  });
})();
