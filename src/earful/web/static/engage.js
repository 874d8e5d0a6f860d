// The reply box's per-network character counter (the server counts: URLs, mentions,
// graphemes and the signature, exactly as the network will). No inline script: CSP.
(function () {
  "use strict";
  function setup() {
    var conv = document.querySelector(".conversation[data-id]");
    var box = document.getElementById("reply-text");
    if (!conv || !box || box.dataset.counter) return;
    box.dataset.counter = "1";
    var out = document.createElement("output");
    out.className = "counter";
    out.setAttribute("aria-live", "polite");
    box.insertAdjacentElement("afterend", out);
    var send = box.form && box.form.querySelector("button[type=submit]");
    var timer = null;
    function update() {
      var url = "/c/" + encodeURIComponent(conv.dataset.id) + "/counter?text=" +
        encodeURIComponent(box.value);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (c) {
          if (!c || c.limit === undefined) { out.textContent = ""; return; }
          out.textContent = c.left + " left of " + c.limit;
          out.classList.toggle("over", c.over);
          if (send) send.disabled = c.over;
        })
        .catch(function () { out.textContent = ""; });
    }
    box.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(update, 150);
    });
    update();
  }
  document.addEventListener("DOMContentLoaded", setup);
  document.addEventListener("htmx:afterSwap", setup);
})();
