// Earful dashboard: draws the charts from the JSON block the page carries (no inline JS).
(function () {
  "use strict";
  function data() {
    var el = document.getElementById("dashboard-data");
    return el ? JSON.parse(el.textContent) : null;
  }
  var COLORS = { negative: "#c0362c", neutral: "#8a949e", positive: "#1f8a4c", unlabelled: "#d5d9de" };
  var PALETTE = ["#c0362c", "#2458d3", "#1f8a4c", "#b08900", "#8a949e"];

  function chart(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof window.Chart === "undefined") return null;
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
    var c = new window.Chart(canvas, config);
    canvas.setAttribute("data-ready", "1");
    return c;
  }

  // Axis text and grid lines from the page's theme (app.css), light or dark.
  function themed() {
    var css = getComputedStyle(document.documentElement);
    var muted = css.getPropertyValue("--muted").trim(), line = css.getPropertyValue("--line").trim();
    if (window.Chart && muted) {
      window.Chart.defaults.color = muted;
      window.Chart.defaults.borderColor = line;
    }
    return css.getPropertyValue("--fg").trim() || "#1d232a";
  }

  function draw() {
    var d = data();
    if (!d) return;
    var ink = themed();
    var days = d.volume.map(function (v) { return v.day; });
    chart("chart-volume", {
      type: "bar",
      data: {
        labels: days,
        datasets: ["negative", "neutral", "positive", "unlabelled"].map(function (s) {
          return { label: s, backgroundColor: COLORS[s], data: d.volume.map(function (v) { return v[s]; }), stack: "posts" };
        }).concat([{ type: "line", label: "total", borderColor: ink, backgroundColor: ink, data: d.volume.map(function (v) { return v.total; }), pointRadius: 1 }])
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
    });
    chart("chart-intents", {
      type: "doughnut",
      data: {
        labels: d.intents.map(function (i) { return i.intent; }),
        datasets: [{ data: d.intents.map(function (i) { return i.posts; }), backgroundColor: PALETTE }]
      }
    });
    var r = d.response;
    chart("chart-response", {
      type: "bar",
      data: {
        labels: ["p50", "p75", "p90", "p95", "p99"],
        datasets: [
          { label: "minutes to the brand's reply", backgroundColor: "#2458d3", data: [r.p50_minutes, r.p75_minutes, r.p90_minutes, r.p95_minutes, r.p99_minutes] },
          { type: "line", label: "target", borderColor: "#c0362c", pointRadius: 0, data: [r.target_minutes, r.target_minutes, r.target_minutes, r.target_minutes, r.target_minutes] }
        ]
      },
      options: { scales: { y: { beginAtZero: true } } }
    });
    chart("chart-agents", {
      type: "bar",
      data: {
        labels: d.agents.map(function (a) { return a.name; }),
        datasets: [
          { label: "open assigned", backgroundColor: "#b08900", data: d.agents.map(function (a) { return a.open_assigned; }) },
          { label: "replies", backgroundColor: "#2458d3", data: d.agents.map(function (a) { return a.replies; }) }
        ]
      },
      options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
