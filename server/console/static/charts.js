// Draw the console's charts with ECharts from the JSON each chart element carries in data-chart.
(function () {
  function draw() {
    var el = document.getElementById("report-chart");
    if (el) {
      var d = JSON.parse(el.dataset.chart);
      echarts.init(el).setOption({
        animation: false, tooltip: {trigger: "axis"}, legend: {data: ["已送达", "失败", "已读"]},
        grid: {left: 48, right: 16, bottom: 40, top: 40},
        xAxis: {type: "category", data: d.orgs}, yAxis: {type: "value", minInterval: 1},
        series: [{name: "已送达", type: "bar", barMaxWidth: 48, data: d.sent, itemStyle: {color: "#1d4f91"}},
                 {name: "失败", type: "bar", barMaxWidth: 48, data: d.failed, itemStyle: {color: "#b42318"}},
                 {name: "已读", type: "bar", barMaxWidth: 48, data: d.read, itemStyle: {color: "#067647"}}]
      });
      el.dataset.drawn = "1";
    }
    var f = document.getElementById("figures-chart");
    if (f) {
      var g = JSON.parse(f.dataset.chart);
      echarts.init(f).setOption({
        animation: false, tooltip: {trigger: "axis"}, legend: {data: g.series.map(function (s) { return s.name; })},
        grid: {left: 48, right: 56, bottom: 40, top: 48},
        xAxis: {type: "category", data: g.periods},
        yAxis: [{type: "value", minInterval: 1},
                {type: "value", min: 0, max: 100, axisLabel: {formatter: "{value}%"}, splitLine: {show: false}}],
        series: g.series.map(function (s) {
          return {name: s.name, type: s.type, data: s.data, yAxisIndex: s.axis || 0, smooth: s.type === "line",
                  barMaxWidth: 24, connectNulls: true};
        })
      });
      f.dataset.drawn = "1";
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
})();
