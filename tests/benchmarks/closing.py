"""Closing benchmark on PostgreSQL (run: `make bench-closing`).

Seeds 1,000 customers with agreements (per outcome, graduated, volume, percent of
value) and 1,000,000 signals with costs in January 2026, closes every due period, and
prints: total time, periods/s, peak RSS of a closing process, queries per period, and
the time of one raw SQL GROUP BY computing the same per-customer counts, with the ratio.
Then the 1,000 invoices' PDFs are rendered and stored by one process, after closing and
apart from it (tests/benchmarks/invoice_pdfs.py): PDFs/s, the first (cold) PDF, peak RSS
of the rendering worker, against rendering their printable HTML alone (BENCH_PDFS=0
skips them).

Before that, on a fresh database of its own: the first close over a backlog of
BENCH_BACKLOG signals (default 100,000) with an empty, never analysed marks table, and
the same close once the table is warm (BENCH_FIRST_CLOSE=0 skips it).

Periods are closed by BENCH_WORKERS processes (default 2), each closing its share one
period per transaction with `period_close`, as a Celery worker does at its default
concurrency (one process per core) on the 2-core machine the target is set for.
BENCH_WORKERS=1 gives the figure for a single process.
"""

import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.benchmarks.common import bench_env, fresh_database, manage  # noqa: E402

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", 1000))
MONTHS = int(os.environ.get("BENCH_MONTHS", 1))
SIGNALS = int(os.environ.get("BENCH_SIGNALS", 1_000_000))
JAN = datetime(2026, 1, 1, tzinfo=UTC)


def seed(
    database_url: str,
    customers: int,
    signals: int,
    analyse: bool = True,
    *,
    start: datetime = JAN,
    until: datetime | None = None,
) -> None:
    """Agreements starting on `start`'s day; signals spread from `start` to `until`
    (default: MONTHS months later), their costs at `start`."""
    import psycopg

    until = until or datetime(start.year, start.month + MONTHS, 1, tzinfo=UTC)

    with psycopg.connect(database_url) as conn:
        conn.execute(  # closing refuses without a complete seller profile
            "INSERT INTO billing_sellerprofile (id, legal_name, address_line1, address_line2, "
            "address_city, address_state, address_postal_code, address_country, tax_id, "
            "registration_number, email, logo, logo_type, payment_instructions, "
            "payment_terms_days, invoice_footer, invoice_number_format, updated_at, "
            "credit_note_number_format, outcome_account_code, fee_account_code, "
            "tax_account_code, receivables_account_code, bank_account_code, "
            "prepaid_credits_account_code, promotional_credits_account_code) VALUES "
            "(1, 'Bench Ltd', '1 Bench St', '', 'London', '', 'EC1A 1BB', 'GB', 'GB980780684', "
            "'', '', '', '', 'IBAN GB33 BUKB 2020 1555 5555 55', 30, '', "
            "'INV-{year}-{seq:06d}', now(), 'CN-{year}-{seq:06d}', '4000', '4100', '2200', "
            "'1200', '1000', '2300', '4900') ON CONFLICT (id) DO NOTHING"
        )
        agent = conn.execute(
            "INSERT INTO agents_agent (external_id, name, description, active, created_at, "
            "updated_at) VALUES ('bench-agent', 'Bench', '', true, now(), now()) RETURNING id"
        ).fetchone()[0]
        outcome = conn.execute(
            "INSERT INTO billing_outcomedefinition (agent_id, name, event_name, description, "
            "partial_rule, partial_fraction, ratio_numerator_field, ratio_denominator_field, "
            "per_workflow, created_at, account_code) VALUES (%s, 'Docs', 'done', '', 'fixed', "
            "0.4, '', '', false, now(), '') RETURNING id",
            (agent,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO billing_outcomecriterion (definition_id, kind, field_path, operator, "
            "value) VALUES (%s, 'success', 'status', 'eq', '\"ok\"'), "
            "(%s, 'partial', 'status', 'eq', '\"partial\"')",
            (outcome, outcome),
        )
        models = ["per_outcome", "graduated", "volume", "percent_of_value"]
        for i in range(1, customers + 1):
            customer = conn.execute(
                "INSERT INTO customers_customer (external_id, name, currency, billing_email, "
                "status, created_at, updated_at, legal_name, phone, website, vat_number, "
                "address_line1, address_line2, address_city, address_state, "
                "address_postal_code, address_country, metadata) VALUES (%s, %s, 'USD', "
                "'b@example.com', 'active', now(), now(), '', '', '', '', '', '', '', '', '', "
                "'', '{}') RETURNING id",
                (f"cus_{i}", f"Customer {i}"),
            ).fetchone()[0]
            agreement = conn.execute(
                "INSERT INTO billing_priceagreement (customer_id, name, currency, starts_on, "
                "cadence, platform_fee, minimum_commitment, grace_period, payment_terms_days, "
                "notes, created_at, dispute_window_days) VALUES (%s, %s, 'USD', %s, "
                "'monthly', 100, 50, interval '1 day', 30, '', now(), 30) RETURNING id",
                (customer, f"Deal {i}", start.date()),
            ).fetchone()[0]
            model = models[i % 4]
            price = conn.execute(
                "INSERT INTO billing_price (agreement_id, outcome_definition_id, model, "
                "unit_price, percent_of_value, value_field, markup_percent, included_quantity) "
                "VALUES (%s, %s, %s, %s, %s, %s, NULL, 10) RETURNING id",
                (
                    agreement,
                    outcome,
                    model,
                    0.5 if model == "per_outcome" else None,
                    8 if model == "percent_of_value" else None,
                    "amount" if model == "percent_of_value" else "",
                ),
            ).fetchone()[0]
            if model in ("graduated", "volume"):
                conn.execute(
                    "INSERT INTO billing_pricetier (price_id, from_quantity, up_to_quantity, "
                    "unit_price) VALUES (%s, 0, 500, 0.6), (%s, 500, NULL, 0.4)",
                    (price, price),
                )
        conn.commit()
        rng = random.Random(3)
        span = (until - start).total_seconds() - 1
        with conn.cursor().copy(
            "COPY agents_signal (id, agent_id, customer_id, external_customer_id, event_name, "
            "occurred_at, received_at, data) FROM STDIN"
        ) as copy:
            for i in range(1, signals + 1):
                c = rng.randint(1, customers)
                roll = rng.random()
                status = "ok" if roll < 0.8 else "partial" if roll < 0.9 else "failed"
                at = start + timedelta(seconds=rng.randint(0, int(span)))
                data = {"status": status, "llm_cost": 0.01, "amount": rng.randint(10, 500)}
                copy.write_row((i, agent, c, f"cus_{c}", "done", at, at, json.dumps(data)))
        with conn.cursor().copy(
            "COPY agents_cost (agent_id, customer_id, external_customer_id, signal_id, "
            "source_key, category, amount, currency, vendor, model, priced_from_catalogue, "
            "occurred_at, received_at, metadata, span_name) FROM STDIN"
        ) as copy:
            for i in range(1, signals + 1):
                copy.write_row(
                    (
                        agent,
                        None,
                        "",
                        i,
                        "llm_cost",
                        "llm",
                        "0.01",
                        "USD",
                        "",
                        "",
                        False,
                        start,
                        start,
                        "{}",
                        "",
                    )
                )
        conn.execute("SELECT setval('agents_signal_id_seq', %s)", (signals,))
        conn.execute(
            "UPDATE agents_cost c SET customer_id = s.customer_id FROM agents_signal s "
            "WHERE s.id = c.signal_id"
        )
        conn.commit()
    if analyse:  # as autovacuum would have, on a database that has held the rows a while
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


def close_all(worker: int = 0, workers: int = 1) -> None:
    """Runs in its own process, so its peak RSS is the closing's alone. With several
    workers each closes its share of the due periods, as Celery workers would."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import connection

    from billing.periods import periods_create_due, periods_due
    from billing.services import period_close

    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    from billing import services

    margin_seconds = 0.0
    compute = services.margin_figures_compute

    def timed_compute(**kwargs):
        nonlocal margin_seconds
        started = time.perf_counter()
        try:
            return compute(**kwargs)
        finally:
            margin_seconds += time.perf_counter() - started

    services.margin_figures_compute = timed_compute
    now = datetime(2026, 1 + MONTHS, 5, tzinfo=UTC)
    t = time.perf_counter()
    closed = 0
    setup_queries = 0
    with connection.execute_wrapper(count):
        while True:
            before = queries
            # Each process takes the periods of its share of the agreements.
            periods_create_due(now=now)
            due = [p for p in periods_due(now=now) if p.agreement_id % workers == worker]
            setup_queries += queries - before
            if not due:
                break
            for period in due:
                closed += period_close(period_id=period.pk, now=now) is not None
    elapsed = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "periods": closed,
                "seconds": elapsed,
                "peak_mb": peak,
                "queries": queries - setup_queries,
                "setup_queries": setup_queries,
                "margin_seconds": margin_seconds,
            }
        )
    )


def read_latency() -> None:
    """Median of 20 renders of the margin dashboard and of the margin API, as staff."""
    import statistics

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench-staff", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    result = {}
    for name, url in [
        ("dashboard", "/admin/billing/marginfigure/"),
        ("api", "/api/v1/margins?limit=100"),
    ]:
        assert client.get(url).status_code == 200
        times = []
        for _ in range(20):
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
        result[name] = statistics.median(times)
    print(json.dumps(result))


def first_close(which: str) -> None:
    """Close the period of customer 1 (`first`) or 2 (`warm`) and print the seconds."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from billing import services
    from billing.models import BillingPeriod
    from billing.periods import periods_create_due

    now = datetime(2026, 2, 5, tzinfo=UTC)
    periods_create_due(now=now)
    customer = "cus_1" if which == "first" else "cus_2"
    period = BillingPeriod.objects.get(agreement__customer__external_id=customer, starts_at=JAN)
    t = time.perf_counter()
    invoice = services.period_close(period_id=period.pk, now=now)
    print(json.dumps({"seconds": time.perf_counter() - t, "total": str(invoice.total)}))


def first_close_phase() -> None:
    """A first close over a backlog on a fresh database (nothing analysed, no marks yet),
    then the same close on a warm one (the first's marks there and analysed)."""
    import psycopg

    backlog = int(os.environ.get("BENCH_BACKLOG", 100_000))
    database_url = fresh_database("bench_first_close")
    env = bench_env(database_url)
    manage(env, "migrate", "--noinput", "-v0")
    seed(database_url, 2, 2 * backlog, analyse=False)

    def close(which):
        out = subprocess.run(
            [sys.executable, __file__, "--first-close", which],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]

    first = close("first")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE")  # what autovacuum does once the marks table has grown
    warm = close("warm")
    print(
        f"first close on an empty, never analysed marks table: {first:.2f} s for about "
        f"{backlog:,} signals; the same close on a warm table: {warm:.2f} s "
        f"({first / warm:.2f}x)"
    )


def group_by_baseline(database_url: str) -> float:
    import psycopg

    with psycopg.connect(database_url) as conn:
        t = time.perf_counter()
        rows = conn.execute(
            "SELECT customer_id, count(*) FILTER (WHERE data->>'status' = 'ok'), "
            "count(*) FILTER (WHERE data->>'status' = 'partial'), count(*) "
            "FROM agents_signal WHERE occurred_at >= '2026-01-01' AND occurred_at < '2026-02-01' "
            "GROUP BY customer_id"  # January: one period per customer
        ).fetchall()
        elapsed = time.perf_counter() - t
    assert len(rows) == CUSTOMERS
    return elapsed


def main():
    if os.environ.get("BENCH_FIRST_CLOSE", "1") != "0":
        first_close_phase()
    database_url = fresh_database("bench_closing")
    env = bench_env(database_url)
    manage(env, "migrate", "--noinput", "-v0")
    t = time.perf_counter()
    seed(database_url, CUSTOMERS, SIGNALS)
    print(
        f"seeded {CUSTOMERS:,} customers and {SIGNALS:,} signals with costs "
        f"in {time.perf_counter() - t:.0f} s"
    )
    workers = int(os.environ.get("BENCH_WORKERS", 2))
    t = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--close", str(k), str(workers)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(workers)
    ]
    parts = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    wall = time.perf_counter() - t
    stats = {
        "periods": sum(p["periods"] for p in parts),
        "seconds": wall if workers > 1 else parts[0]["seconds"],
        "peak_mb": max(p["peak_mb"] for p in parts),
        "queries": sum(p["queries"] for p in parts),
        "setup_queries": max(p["setup_queries"] for p in parts),
        "margin_seconds": sum(p["margin_seconds"] for p in parts),
        "process_seconds": sum(p["seconds"] for p in parts),
    }
    baseline = group_by_baseline(database_url)
    reads = json.loads(
        subprocess.run(
            [sys.executable, __file__, "--read"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    pdfs = None
    if os.environ.get("BENCH_PDFS", "1") != "0":
        pdfs = json.loads(
            subprocess.run(
                [sys.executable, str(ROOT / "tests/benchmarks/invoice_pdfs.py")],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    periods = stats["periods"]
    print(
        f"closed: {periods:,} periods with {workers} closing process(es) in "
        f"{stats['seconds']:.1f} s = "
        f"{periods / stats['seconds']:,.1f} periods/s"
    )
    print(f"memory: peak RSS of a closing process {stats['peak_mb']:.0f} MB")
    print(
        f"queries: {stats['queries'] / periods:.1f} per period "
        f"(+{stats['setup_queries']} to find due periods)"
    )
    print(
        f"GROUP BY baseline: {baseline:.2f} s for the same per-customer counts in one query; "
        f"closing took {stats['seconds'] / baseline:.0f}x that"
    )
    print(
        f"margins: computing them took {stats['margin_seconds']:.1f} s of the closing "
        f"processes' {stats['process_seconds']:.1f} s "
        f"({stats['margin_seconds'] / stats['process_seconds'] * 100:.0f}%)"
    )
    print(
        f"reads ({SIGNALS:,} signals over {MONTHS} month(s)): margin dashboard median of 20 "
        f"renders {reads['dashboard'] * 1000:.0f} ms; /api/v1/margins median "
        f"{reads['api'] * 1000:.0f} ms"
    )
    if pdfs is None:
        return
    print(
        f"PDFs (after closing, not in its time): {pdfs['invoices']:,} invoices rendered and "
        f"stored by one worker process; the first (cold) in {pdfs['first_seconds']:.2f} s, "
        f"the other {pdfs['pdfs']:,} in {pdfs['seconds']:.1f} s = "
        f"{pdfs['pdfs'] / pdfs['seconds']:.1f} PDFs/s; peak RSS {pdfs['peak_mb']:.0f} MB; "
        f"{pdfs['average_bytes'] / 1024:.0f} KB each"
    )
    print(
        f"PDF baseline: the same invoices' printable HTML alone in {pdfs['html_seconds']:.1f} s "
        f"({pdfs['invoices'] / pdfs['html_seconds']:,.0f}/s); a PDF costs "
        f"{pdfs['seconds'] / pdfs['pdfs'] / (pdfs['html_seconds'] / pdfs['invoices']):.0f}x "
        "its HTML"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--read"]:
        read_latency()
    elif sys.argv[1:2] == ["--first-close"]:
        first_close(sys.argv[2])
    elif sys.argv[1:2] == ["--close"]:
        close_all(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
