// The theme before first paint (no flash): the choice remembered in localStorage, else
// the system's. Loaded without defer in <head>; app.js wires the toggle. No inline script: CSP.
(function () {
  "use strict";
  try {
    var saved = window.localStorage.getItem("earful-theme");
    if (saved === "dark" || saved === "light") document.documentElement.setAttribute("data-theme", saved);
  } catch (e) { /* storage blocked: follow the system */ }
})();
