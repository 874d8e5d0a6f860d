// The public service page: show every time in the visitor's own time zone.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var withDay = { weekday: "short", hour: "2-digit", minute: "2-digit" };
    var clock = { hour: "2-digit", minute: "2-digit" };
    document.querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      var opts = el.hasAttribute("data-day") || el.closest(".now, .eta") ? withDay : clock;
      el.textContent = when.toLocaleString(undefined, opts);
    });
    document.querySelectorAll(".utc").forEach(function (el) { el.remove(); });
  });
})();
