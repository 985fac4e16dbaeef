/* The trends dashboard: figures from /console/api/trends drawn with the vendored Chart.js. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  // Colours told apart in print and by most colour-blind readers (Okabe-Ito), then greys.
  var COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#777777", "#BBBBBB"];
  var charts = {};

  function query() {
    return "period=" + encodeURIComponent($("period").value) + "&span=" + encodeURIComponent($("span").value);
  }

  function showError(text) { $("error").textContent = text || ""; }

  function chartBox(chart) {
    var section = document.createElement("section");
    section.className = "chart";
    section.id = "chart-" + chart.id;
    var title = document.createElement("h2");
    title.textContent = chart.title + "（" + chart.unit + "）";
    var link = document.createElement("a");
    link.className = "csv";
    link.textContent = "导出 CSV";
    link.setAttribute("data-chart", chart.id);
    link.href = "#";
    title.appendChild(link);
    var box = document.createElement("div");
    box.className = "canvas-box";
    var canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", chart.title);
    box.appendChild(canvas);
    section.appendChild(title);
    section.appendChild(box);
    $("charts").appendChild(section);
    return canvas;
  }

  function draw(data) {
    data.charts.forEach(function (chart) {
      if (charts[chart.id]) charts[chart.id].destroy();
      var canvas = document.querySelector("#chart-" + chart.id + " canvas") || chartBox(chart);
      charts[chart.id] = new Chart(canvas, {
        type: data.period === "week" ? "bar" : "line",
        data: {
          labels: data.labels,
          datasets: chart.series.map(function (s, i) {
            var colour = COLOURS[i % COLOURS.length];
            return { label: s.label, data: s.values, borderColor: colour, backgroundColor: colour, pointRadius: 2, borderWidth: 2 };
          })
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          interaction: { mode: "index", intersect: false },
          scales: { y: { beginAtZero: true, title: { display: true, text: chart.unit } } },
          plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }
        }
      });
    });
    var rows = $("rising");
    rows.textContent = "";
    data.rising.forEach(function (item) {
      var tr = document.createElement("tr");
      [item.label, item.this_week, item.before, item.share_this_week + "%", item.share_before + "%", "+" + item.change].forEach(function (v) {
        var td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      });
      rows.appendChild(tr);
    });
    if (!data.rising.length) {
      var tr = document.createElement("tr");
      var td = document.createElement("td");
      td.colSpan = 6;
      td.textContent = "没有占比上升的类型。";
      tr.appendChild(td);
      rows.appendChild(tr);
    }
    document.body.setAttribute("data-loaded", data.period);
  }

  // Answers may arrive out of order (the first, cold one is the slowest): only the newest request's is drawn.
  var newest = 0;
  function load() {
    var ticket = ++newest;
    showError("");
    return fetch("/console/api/trends?" + query(), { credentials: "same-origin" }).then(function (reply) {
      if (reply.status === 401) { window.location.href = "/console/login"; return null; }
      return reply.json().then(function (data) {
        if (!reply.ok) throw new Error(data.error || "加载失败");
        return data;
      });
    }).then(function (data) { if (data && ticket === newest) draw(data); })
      .catch(function (error) { if (ticket === newest) showError(error.message); });
  }

  $("period").addEventListener("change", function () {
    var week = $("period").value === "week";
    $("span").value = week ? 12 : 30;
    $("span").max = week ? 53 : 366;
    $("span-unit").textContent = week ? "周" : "天";
    load();
  });
  $("controls").addEventListener("submit", function (event) { event.preventDefault(); load(); });
  $("print").addEventListener("click", function () { window.print(); });
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.csv") : null;
    if (!link) return;
    event.preventDefault();
    window.location.href = "/console/api/trends.csv?chart=" + encodeURIComponent(link.getAttribute("data-chart")) + "&" + query();
  });
  load();
})();
