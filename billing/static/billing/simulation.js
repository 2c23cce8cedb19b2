// The pricing lab's chart: revenue per period as invoiced and as simulated (bars), and
// the costs (a line), from the numbers embedded in the page.
(function () {
  const data = JSON.parse(document.getElementById("lab-data").textContent);
  const numbers = (values) => values.map(Number);
  const money = (value) =>
    value.toLocaleString("en-US", { minimumFractionDigits: data.places, maximumFractionDigits: data.places }) +
    " " + data.currency;
  new Chart(document.getElementById("lab-chart"), {
    data: {
      labels: data.labels,
      datasets: [
        { type: "bar", label: "Revenue, actual", data: numbers(data.actual), backgroundColor: "#94a3b8" },
        { type: "bar", label: "Revenue, simulated", data: numbers(data.simulated), backgroundColor: "#2563eb" },
        {
          type: "line",
          label: "Costs",
          data: numbers(data.costs),
          borderColor: "#dc2626",
          backgroundColor: "#dc2626",
          pointRadius: 3,
        },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, ticks: { callback: (v) => v.toLocaleString("en-US") } } },
      plugins: { tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + money(c.parsed.y) } } },
    },
  });
})();
