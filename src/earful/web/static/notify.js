// Browser notifications: the page's event stream carries "notify" events for this user
// (see notifications/dispatch.py); shown with the Notification API once allowed.
(function () {
  "use strict";
  var allow = document.getElementById("allow-notifications");
  if (allow && "Notification" in window && Notification.permission === "default") {
    allow.hidden = false;
    allow.addEventListener("click", function () {
      Notification.requestPermission().then(function () { allow.hidden = true; });
    });
  }
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var msg = evt.detail;
    if (!msg || msg.type !== "notify") return;
    evt.preventDefault(); // nothing to swap: the message is for the desktop
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    var doc;
    try { doc = JSON.parse(msg.data); } catch (e) { return; }
    var note = new Notification(doc.title, { body: doc.body || "", tag: "earful-" + doc.id });
    note.onclick = function () { window.focus(); if (doc.link) window.location.href = doc.link; };
  });
})();
