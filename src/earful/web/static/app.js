// Earful pages: the CSRF header for htmx, the theme toggle, and the keyboard (listed on "?"
// in templates/_keys.html: keep the two in step).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var root = document.documentElement;

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

  // ---------------------------------------------------------------- theme
  function isDark() {
    var set = root.getAttribute("data-theme");
    if (set) return set === "dark";
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  function showTheme() {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    button.setAttribute("aria-pressed", isDark() ? "true" : "false");
  }
  function toggleTheme() {
    var next = isDark() ? "light" : "dark";
    root.setAttribute("data-theme", next);
    try { window.localStorage.setItem("earful-theme", next); } catch (e) { /* not remembered */ }
    showTheme();
  }

  // ---------------------------------------------------------------- live stream
  // The server ends each event stream after a while (and on a restart); the browser opens it
  // again. What was published in between would be lost: a reopened stream reloads each part
  // that events keep current (marked data-resync).
  document.addEventListener("htmx:sseOpen", function (evt) {
    var source = evt.target;
    if (source.hasAttribute("data-opened")) {
      source.querySelectorAll("[data-resync]").forEach(function (part) {
        htmx.trigger(part, "resync");
      });
    }
    source.setAttribute("data-opened", "");
  });
  // Notifications and alerts are shown once, not reloaded: each carries an id, and a stream
  // opened again with the last one is sent what it missed (inbox/endpoints.py). The
  // browser's own reconnect sends it as Last-Event-ID; but after an error that closed the
  // stream, htmx's sse extension opens a new EventSource, which sends none: add it as ?last=.
  if (window.htmx && htmx.createEventSource) {
    var lastIds = {}; // stream URL (as in sse-connect) -> the last event id it was sent
    var create = htmx.createEventSource;
    htmx.createEventSource = function (url) {
      var last = lastIds[url];
      var source = create(last ? url + (url.indexOf("?") < 0 ? "?" : "&") + "last=" + encodeURIComponent(last) : url);
      ["cursor", "notify", "alert"].forEach(function (name) { // the events that carry an id
        source.addEventListener(name, function (evt) {
          if (evt.lastEventId) lastIds[url] = evt.lastEventId;
        });
      });
      return source;
    };
  }

  // ---------------------------------------------------------------- inbox rows
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.row")); }
  function current() { return document.querySelector("tr.row.selected"); }
  function select(row, focus) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-current"); });
    if (!row) return;
    row.classList.add("selected");
    row.setAttribute("aria-current", "true");
    var link = row.querySelector("a");
    if (focus && link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }
  function move(delta) {
    var all = rows();
    if (!all.length) return;
    var i = all.indexOf(current());
    select(all[Math.max(0, Math.min(all.length - 1, i < 0 ? 0 : i + delta))], true);
  }
  function conversationId() {
    var conv = document.querySelector(".conversation[data-id]");
    if (conv) return conv.getAttribute("data-id");
    var row = current();
    return row ? row.getAttribute("data-id") : null;
  }

  // ---------------------------------------------------------------- keys dialog
  function keysDialog() { return document.getElementById("keys-dialog"); }
  function showKeys() {
    var d = keysDialog();
    if (d && !d.open) d.showModal();
  }

  function focusField(el) {
    if (!el) return false;
    el.scrollIntoView({ block: "center" });
    el.focus();
    return true;
  }

  // Actions run one after another, and the page reloads once, after the last: "w" then "e"
  // pressed quickly both reach the server, in that order. A key pressed while the page is
  // already reloading is kept and acted on once it has loaded (else the reload drops it).
  var actions = Promise.resolve(), inFlight = 0, leaving = false;
  var PENDING_KEY = "earful-pending-key";
  function act(url, fields, reload) {
    inFlight += 1;
    actions = actions
      .then(function () { return post(url, fields); })
      .catch(function () {})
      .then(function () {
        inFlight -= 1;
        if (inFlight === 0 && reload) { leaving = true; window.location.reload(); }
      });
  }
  function keepForNextPage(key) {
    try {
      sessionStorage.setItem(PENDING_KEY, JSON.stringify({ key: key, path: location.pathname }));
    } catch (e) { /* no storage: the key is dropped, as before */ }
  }
  function replayKeptKey() {
    var kept = null;
    try {
      kept = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
      sessionStorage.removeItem(PENDING_KEY);
    } catch (e) { return; }
    if (kept && kept.path === location.pathname) {
      document.dispatchEvent(new KeyboardEvent("keydown", { key: kept.key, bubbles: true }));
    }
  }

  var pendingG = 0; // time "g" was pressed: "g i" goes to the inbox, and so on
  var GO = { i: "/inbox", d: "/dashboard", b: "/brands", a: "/account" };

  function typing(t) {
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }

  document.addEventListener("keydown", function (evt) {
    var t = evt.target;
    if ((evt.ctrlKey || evt.metaKey) && evt.key === "Enter" && t && t.form && t.tagName === "TEXTAREA") {
      evt.preventDefault(); // Ctrl+Enter sends the reply (or the note) being written
      t.form.requestSubmit();
      return;
    }
    if (evt.ctrlKey || evt.metaKey || evt.altKey) return;
    if (typing(t)) {
      if (evt.key === "Escape" && t.blur) t.blur(); // out of the field: the keys work again
      return;
    }
    var d = keysDialog();
    if (d && d.open) return; // the dialog handles Esc itself
    if (pendingG && Date.now() - pendingG < 1500 && GO[evt.key]) {
      pendingG = 0;
      evt.preventDefault();
      window.location.href = GO[evt.key];
      return;
    }
    pendingG = 0;
    var id = conversationId();
    var onPage = !!document.querySelector(".conversation[data-id]");
    if (leaving && (evt.key === "a" || evt.key === "e" || evt.key === "w")) {
      keepForNextPage(evt.key);
      evt.preventDefault();
      return;
    }
    switch (evt.key) {
      case "?": showKeys(); break;
      case "g": pendingG = Date.now(); break;
      case "t": toggleTheme(); break;
      case "/":
        if (!focusField(document.getElementById("search"))) window.location.href = "/inbox#search";
        break;
      case "j": if (!onPage) move(1); else return; break;
      case "k": if (!onPage) move(-1); else return; break;
      case "o": case "Enter":
        if (onPage || !current()) return;
        if (evt.key === "Enter" && t && t.tagName === "A") return; // the link opens itself
        window.location.href = current().getAttribute("data-href");
        break;
      case "a":
        if (id) act("/c/" + id + "/assign", { assignee: "me" }, onPage);
        break;
      case "e":
        if (id) act("/c/" + id + "/status", { status: "resolved" }, onPage);
        break;
      case "w":
        if (id && onPage) act("/c/" + id + "/status", { status: "waiting" }, true);
        else return;
        break;
      case "r":
        if (onPage) { if (!focusField(document.getElementById("reply-text"))) return; }
        else if (current()) window.location.href = current().getAttribute("data-href") + "#reply-form";
        break;
      case "n":
        if (!onPage || !focusField(document.querySelector("#notes textarea"))) return;
        break;
      case "l":
        if (!onPage || !focusField(document.querySelector(".tags input[name=tag]"))) return;
        break;
      case "c":
        if (!onPage || !focusField(document.querySelector("form.compliment button"))) return;
        break;
      case "h":
        if (!onPage || !focusField(document.querySelector("form.handoff select"))) return;
        break;
      case "u":
        if (!onPage) return;
        window.location.href = "/inbox";
        break;
      default: return;
    }
    evt.preventDefault();
  });

  document.addEventListener("click", function (evt) {
    if (!evt.target.closest) return;
    if (evt.target.closest("#theme-toggle")) { toggleTheme(); return; }
    if (evt.target.closest("#keys-button")) { showKeys(); return; }
    var row = evt.target.closest("tr.row");
    if (row && evt.target.tagName !== "A") select(row, false);
  });

  function ready() {
    showTheme();
    replayKeptKey();
    if (rows().length && !current()) select(rows()[0], false);
    if (window.location.hash === "#reply-form") focusField(document.getElementById("reply-text"));
    if (window.location.hash === "#search") focusField(document.getElementById("search"));
    // Wide screens show every filter; narrow ones fold them under "More filters".
    var more = document.getElementById("more-filters");
    if (more && window.matchMedia("(min-width: 901px)").matches) more.open = true;
  }
  document.addEventListener("DOMContentLoaded", ready);
  // A live refresh redraws the rows: keep the one the agent had selected.
  var keep = null;
  document.addEventListener("htmx:beforeSwap", function () {
    var row = current();
    keep = row ? row.getAttribute("data-id") : null;
  });
  document.addEventListener("htmx:afterSwap", function () {
    var again = keep && document.querySelector('tr.row[data-id="' + keep + '"]');
    if (again) select(again, false);
    else if (rows().length && !current()) select(rows()[0], false);
  });
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", showTheme);
  }
})();
