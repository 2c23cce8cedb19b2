"""Pricing lab benchmark on PostgreSQL (run: `make bench-simulate`).

1. One customer with 1,000,000 signals (BENCH_SIGNALS) over 12 monthly periods of 2026
   (a graduated price, partials, costs): the 12 periods are closed (timed: the
   baseline), then the agreement is simulated unchanged over them in a fresh process
   (cold: the first run), and again, and with a proposed change (volume tiers +10%).
   The unchanged run must reproduce every invoice's total (checked, not timed).
2. 1,000 customers (BENCH_CUSTOMERS) sharing the same 1,000,000 signals over
   BENCH_PORTFOLIO_MONTHS monthly periods (12): the periods are closed by 2 processes
   (the baseline), then a portfolio change (the outcome's prices +10%) is simulated over
   every agreement by one process: seconds, invoices replayed, peak RSS.
"""

import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.benchmarks.closing import seed  # noqa: E402
from tests.benchmarks.common import bench_env, fresh_database, manage  # noqa: E402

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", 1000))
SIGNALS = int(os.environ.get("BENCH_SIGNALS", 1_000_000))
PORTFOLIO_MONTHS = int(os.environ.get("BENCH_PORTFOLIO_MONTHS", 12))
JAN = datetime(2026, 1, 1, tzinfo=UTC)


def _after(months: int) -> datetime:
    return datetime(JAN.year + (months // 12), months % 12 + 1, 1, tzinfo=UTC)


def _django():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


def close_all(worker: int, workers: int, months: int) -> None:
    _django()
    from billing.periods import periods_create_due, periods_due
    from billing.services import period_close

    now = _after(months).replace(day=5)
    started, closed = time.perf_counter(), 0
    while True:
        periods_create_due(now=now)
        due = [p for p in periods_due(now=now) if p.agreement_id % workers == worker]
        if not due:
            break
        for period in due:
            closed += period_close(period_id=period.pk, now=now) is not None
    print(json.dumps({"periods": closed, "seconds": time.perf_counter() - started}))


def simulate_one() -> None:
    from decimal import Decimal as D

    _django()
    from billing.models import PriceAgreement
    from billing.money import format_money
    from billing.simulations import agreement_simulate, periods_closed

    agreement = PriceAgreement.objects.get(customer__external_id="cus_1")
    price = agreement.prices.get()
    periods = periods_closed(agreement)
    result = {"periods": len(periods)}
    for name in ("cold", "warm"):
        started = time.perf_counter()
        unchanged = agreement_simulate(agreement=agreement, periods=periods)
        result[name] = time.perf_counter() - started
    result["reproduced"] = all(
        p.simulated.invoiced == p.actual.invoiced and p.simulated.revenue == p.actual.revenue
        for p in unchanged.periods
    )
    tiers = [(D(0), D(5000), D("0.66")), (D(5000), None, D("0.44"))]
    started = time.perf_counter()
    changed = agreement_simulate(
        agreement=agreement,
        periods=periods,
        price_changes={price.pk: {"model": "volume", "tiers": tiers}},
    )
    result["changed"] = time.perf_counter() - started
    result["actual"] = format_money(changed.total("actual").revenue, "USD")
    result["simulated"] = format_money(changed.total("simulated").revenue, "USD")
    print(json.dumps(result))


def simulate_portfolio(months: int) -> None:
    from decimal import Decimal

    _django()
    from billing.models import Invoice, OutcomeDefinition
    from billing.money import format_money
    from billing.portfolio import Kind, PortfolioChange, portfolio_simulate

    change = PortfolioChange(
        kind=Kind.PERCENT, outcome=OutcomeDefinition.objects.get(), percent=Decimal(10)
    )
    started = time.perf_counter()
    impacts = portfolio_simulate(change, starts_from=JAN, ends_by=_after(months))
    seconds = time.perf_counter() - started
    actual = sum(i.actual.revenue for i in impacts)
    simulated = sum(i.simulated.revenue for i in impacts)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "agreements": len(impacts),
                "invoices": Invoice.objects.count(),
                "actual": format_money(actual, "USD"),
                "simulated": format_money(simulated, "USD"),
                "problems": sum(1 for i in impacts if i.problem),
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def _run(env, *args) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert out.returncode == 0, out.stdout
    return json.loads(out.stdout.strip().splitlines()[-1])


def _close(env, workers: int, months: int) -> tuple[int, float]:
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--close", str(k), str(workers), str(months)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(workers)
    ]
    parts = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return sum(p["periods"] for p in parts), time.perf_counter() - started


def main():
    database_url = fresh_database("bench_simulate_one")
    env = bench_env(database_url)
    manage(env, "migrate", "--noinput", "-v0")
    started = time.perf_counter()
    seed(database_url, 1, SIGNALS, start=JAN, until=_after(12))
    seconds = time.perf_counter() - started
    print(f"seeded 1 customer with {SIGNALS:,} signals over 12 months in {seconds:.0f} s")
    periods, seconds = _close(env, 1, 12)
    one = _run(env, "--one")
    assert one["reproduced"], one
    print(
        f"one customer, {SIGNALS:,} signals, {periods} periods: closed in {seconds:.2f} s; "
        f"simulated unchanged in {one['cold']:.2f} s (first run, fresh process), "
        f"{one['warm']:.2f} s again, every invoice reproduced; with volume tiers in "
        f"{one['changed']:.2f} s (revenue {one['actual']} -> {one['simulated']} USD)"
    )
    database_url = fresh_database("bench_simulate_portfolio")
    env = bench_env(database_url)
    manage(env, "migrate", "--noinput", "-v0")
    started = time.perf_counter()
    seed(database_url, CUSTOMERS, SIGNALS, start=JAN, until=_after(PORTFOLIO_MONTHS))
    print(
        f"seeded {CUSTOMERS:,} customers with {SIGNALS:,} signals over {PORTFOLIO_MONTHS} "
        f"months in {time.perf_counter() - started:.0f} s"
    )
    periods, seconds = _close(env, 2, PORTFOLIO_MONTHS)
    result = _run(env, "--portfolio", str(PORTFOLIO_MONTHS))
    print(
        f"portfolio change (+10%) over {result['agreements']:,} agreements, "
        f"{result['invoices']:,} invoices: {result['seconds']:.2f} s in one process "
        f"(peak RSS {result['peak_mb']:.0f} MB; revenue {result['actual']} -> "
        f"{result['simulated']}, {result['problems']} refused); the same {periods:,} "
        f"periods took {seconds:.2f} s to close with 2 processes"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--close"]:
        close_all(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1:2] == ["--one"]:
        simulate_one()
    elif sys.argv[1:2] == ["--portfolio"]:
        simulate_portfolio(int(sys.argv[2]))
    else:
        main()
