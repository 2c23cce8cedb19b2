// Draws the margin dashboard's charts from the numbers embedded in the page.
(function () {
  const data = JSON.parse(document.getElementById("margin-data").textContent);
  const num = (values) => values.map((v) => (v === null ? null : Number(v)));
  const bar = (id, labels, datasets, extra) =>
    new Chart(document.getElementById(id), {
      type: "bar",
      data: { labels, datasets },
      options: Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, extra || {}),
    });
  bar("chart-periods", data.periods, [
    { label: "Revenue", data: num(data.revenue), backgroundColor: "#2563eb" },
    { label: "Cost", data: num(data.cost), backgroundColor: "#dc2626" },
  ]);
  bar("chart-agents", data.agents, [{ label: "Margin %", data: num(data.agent_margin), backgroundColor: "#16a34a" }]);
  bar("chart-customers", data.customers, [{ label: "Margin %", data: num(data.customer_margin), backgroundColor: "#0d9488" }]);
  const models = [...new Set(data.cost_per_outcome.flatMap((row) => Object.keys(row.models)))];
  const palette = ["#7c3aed", "#ea580c", "#0891b2", "#65a30d", "#db2777", "#475569"];
  bar(
    "chart-models",
    data.cost_per_outcome.map((row) => row.outcome),
    models.map((model, i) => ({
      label: model,
      data: data.cost_per_outcome.map((row) => Number(row.models[model] || 0)),
      backgroundColor: palette[i % palette.length],
    })),
    { scales: { x: { stacked: true }, y: { stacked: true } } }
  );
  bar("chart-failures", data.agents, [{ label: "Cost of failures", data: num(data.agent_failures), backgroundColor: "#f59e0b" }]);
})();
