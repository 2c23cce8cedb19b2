// Draws each grant's burn-down (credits left against days left) from the numbers
// embedded in the credits page: the balance after each ledger entry (steps), the
// straight line to zero at expiry, and the forecast at the current rate.
(function () {
  const charts = JSON.parse(document.getElementById("credit-charts").textContent);
  const points = (rows) => rows.map((p) => ({ x: Number(p.x), y: Number(p.y), at: p.at }));
  const shown = (chart, value) =>
    chart.places === null
      ? value.toLocaleString("en-US") + " outcomes"
      : value.toLocaleString("en-US", {
          minimumFractionDigits: chart.places,
          maximumFractionDigits: chart.places,
        }) + " " + chart.currency;
  for (const chart of charts) {
    const datasets = [
      {
        label: "Credits left",
        data: points(chart.balance),
        borderColor: "#2563eb",
        backgroundColor: "#2563eb",
        stepped: true,
        pointRadius: 3,
      },
    ];
    if (chart.plan.length) {
      datasets.push({
        label: "Straight to zero at expiry",
        data: points(chart.plan),
        borderColor: "#94a3b8",
        backgroundColor: "#94a3b8",
        borderDash: [6, 4],
        pointRadius: 0,
      });
    }
    if (chart.forecast.length) {
      datasets.push({
        label: "Forecast at the current rate",
        data: points(chart.forecast),
        borderColor: "#dc2626",
        backgroundColor: "#dc2626",
        borderWidth: 3,
        borderDash: [4, 3],
        pointRadius: 0,
      });
    }
    new Chart(document.getElementById("chart-" + chart.id), {
      type: "line",
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: {
            type: "linear",
            reverse: chart.expires,
            min: chart.expires ? 0 : undefined,
            max: chart.expires ? Number(chart.balance[0].x) : undefined,
            title: {
              display: true,
              text: chart.expires ? "days left in the grant" : "days since the grant took effect",
            },
          },
          y: {
            beginAtZero: true,
            title: { display: true, text: chart.places === null ? "outcomes" : chart.currency },
          },
        },
        plugins: {
          tooltip: {
            callbacks: {
              title: (items) => {
                const raw = items[0].raw;
                const days = Math.round(raw.x);
                const when = chart.expires ? days + " days left" : "day " + days;
                return raw.at ? raw.at + " (" + when + ")" : when;
              },
              label: (item) => item.dataset.label + ": " + shown(chart, item.raw.y),
            },
          },
        },
      },
    });
  }
})();
