// lingting command center: draws the ECharts options the server embedded, turns a clicked point into a /drill
// request (htmx), and counts escalation timers down. Pages work without it (charts aside).
(function () {
  "use strict";

  function drillUrl(el, option, p) {
    var base = el.dataset.drillUrl;
    if (!base) return null;
    var d = option.drill || {}, q = [];
    if (d.kind === "time") {
      var shown = Array.isArray(p.value) ? p.value[0] : p.value, x = shown - (d.offset_ms || 0);
      q.push("start_ms=" + x, "end_ms=" + (x + d.step_ms));
      if (["positive", "neutral", "negative"].indexOf(p.seriesId) >= 0) q.push("sentiment=" + p.seriesId);
      q.push("title=" + encodeURIComponent(new Date(shown).toISOString().slice(5, 16).replace("T", " ")));
    } else if (d.kind === "brand") {
      q.push("focus=" + encodeURIComponent(p.name), "title=" + encodeURIComponent(p.name));
    } else if (d.kind === "platform") {
      q.push("platform=" + encodeURIComponent(p.name), "title=" + encodeURIComponent(p.name));
    }
    return base + (base.indexOf("?") < 0 ? "?" : "&") + q.join("&");
  }

  function drawCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll(".chart").forEach(function (el) {
      if (el.dataset.drawn) return;
      var src = document.getElementById(el.id + "-option");
      if (!src) return;
      var option = JSON.parse(src.textContent);
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option);
      el.dataset.drawn = "1";
      chart.on("click", function (p) {
        var url = drillUrl(el, option, p);
        if (url && window.htmx) htmx.ajax("GET", url, { target: "#drill", swap: "innerHTML" });
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  function tick() {
    document.querySelectorAll(".timer[data-due]").forEach(function (el) {
      var left = Math.round((Date.parse(el.dataset.due) - Date.now()) / 1000);
      if (isNaN(left)) return;
      if (left <= 0) { el.textContent = "⏰ 0:00"; return; }
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = "⏳ " + m + ":" + (s < 10 ? "0" : "") + s;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    tick();
    setInterval(tick, 1000);
  });
  document.addEventListener("htmx:afterSwap", function (e) { drawCharts(e.target); tick(); });
})();
