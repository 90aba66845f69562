/* Draws every chart of a page with the vendored Apache ECharts (static/vendor/echarts).
 *
 * The server renders, for each chart, a <div class="echart" data-chart="ID"> and the chart's data
 * as <script type="application/json" id="ID"> (Django's json_script, so no markup can get in),
 * plus a <details> table with the same numbers: what a reader without JavaScript, or a screen
 * reader, gets. Here the data becomes an ECharts bar chart drawn as SVG (sharp at any zoom, and
 * its text can be read back by the browser tests).
 *
 * Data shape: {title, unit: {name, prefix, suffix, whole}, labels: [..],
 *              series: [{name, color, values: [..], colors: [..|null]}],
 *              notes: [..|null]}  (notes: one line per label, shown in the tooltip)
 */
(function () {
  "use strict";

  function escape(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function formatter(unit) {
    // Enough precision to tell ticks apart (0.02, 0.04 …), no more; thousands separators.
    return function (value) {
      var text = Number(value).toLocaleString("zh-CN", { maximumFractionDigits: 3 });
      return unit && unit.prefix ? unit.prefix + text : text;
    };
  }

  function draw(element) {
    var source = document.getElementById(element.dataset.chart);
    if (!source || !window.echarts) { return; }
    var data = JSON.parse(source.textContent);
    var format = formatter(data.unit || {});
    var suffix = data.unit && data.unit.suffix ? " " + data.unit.suffix : "";
    var chart = window.echarts.init(element, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      title: { text: data.title, left: 0, textStyle: { fontSize: 13 } },
      legend: { show: data.series.length > 1, right: 0, top: 0 },
      grid: { left: 8, right: 12, top: 36, bottom: 8, containLabel: true },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        valueFormatter: function (value) { return format(value) + suffix; },
        formatter: null
      },
      xAxis: { type: "category", data: data.labels, axisTick: { alignWithLabel: true },
               axisLabel: { hideOverlap: true } },
      // No min: a value axis always shows 0, and goes below it for a negative value (a refund month).
      yAxis: { type: "value", name: data.unit && data.unit.name || "", nameGap: 12,
               minInterval: data.unit && data.unit.whole ? 1 : 0,
               nameTextStyle: { align: "left" }, axisLabel: { formatter: format } },
      series: data.series.map(function (one) {
        return {
          name: one.name, type: "bar", barMaxWidth: 28,
          itemStyle: { color: one.color },
          data: one.values.map(function (value, index) {
            var color = one.colors && one.colors[index];
            return color ? { value: value, itemStyle: { color: color } } : value;
          })
        };
      })
    });
    if (data.notes) {
      chart.setOption({ tooltip: { formatter: function (params) {
        var note = data.notes[params[0].dataIndex];
        var lines = [escape(params[0].axisValueLabel + (note ? " · " + note : ""))];
        params.forEach(function (p) { lines.push(p.marker + escape(p.seriesName + ": " + format(p.value) + suffix)); });
        return lines.join("<br>");
      } } });
    }
    element.dataset.drawn = "1";
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function drawAll() {
    Array.prototype.forEach.call(document.querySelectorAll(".echart[data-chart]"), draw);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
