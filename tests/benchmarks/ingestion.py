"""Ingestion benchmark on PostgreSQL (run: `make bench-ingestion`).

Prints signals/s through /api/v1/signals/bulk (batches of 1,000, 20% with cost keys,
5% replays) over 200,000 signals; requests/s and p50/p99 latency of /api/v1/signals;
the peak RSS of the server workers; and the raw baseline of inserting the same rows
with psycopg COPY, with the ratio.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from tests.benchmarks.common import Server, agent_world, percentile

SIGNALS = int(os.environ.get("BENCH_SIGNALS", 200_000))
BATCH = 1000
SINGLE_REQUESTS = int(os.environ.get("BENCH_SINGLE", 5000))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 4))


def make_signals(n: int, rng: random.Random, prefix: str) -> list[dict]:
    start = datetime.now(UTC) - timedelta(days=30)
    items, keys = [], []
    for i in range(n):
        if keys and rng.random() < 0.05:
            key = rng.choice(keys)  # a replay
        else:
            key = f"{prefix}-{i}"
            keys.append(key)
        data = {
            "llm_tokens": rng.randint(1000, 30000),
            "processing_time": 12.5,
            "status": "extracted",
        }
        if rng.random() < 0.2:
            data |= {"llm_cost": round(rng.uniform(0.001, 0.05), 6), "infrastructure_cost": 0.002}
        items.append(
            {
                "agent_id": "bench-agent",
                "event_name": "document_processed",
                "customer_id": f"cus_{rng.randint(1, 1000)}",
                "occurred_at": (start + timedelta(seconds=i)).isoformat(),
                "idempotency_key": key,
                "data": data,
            }
        )
    return items


def run_parallel(
    bodies: list[bytes], url: str, key: str, clients: int, content_type="application/json"
) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(enumerate(bodies))
    errors: list[str] = []

    def worker():
        with httpx.Client(
            timeout=60,
            headers={"Authorization": f"Bearer {key}", "Content-Type": content_type},
        ) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    _, body = queue.pop()
                t = time.perf_counter()
                response = client.post(url, content=body)
                elapsed = time.perf_counter() - t
                if response.status_code not in (200, 201):
                    errors.append(f"{response.status_code} {response.text[:200]}")
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, first: {errors[0]}")
    return latencies


def copy_baseline(database_url: str, items: list[dict]) -> float:
    """The same rows into a copy of the signals table (same indexes) with COPY."""
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE bench_copy (LIKE agents_signal INCLUDING ALL)")
        agent_id = conn.execute("SELECT id FROM agents_agent LIMIT 1").fetchone()[0]
        now = datetime.now(UTC)
        unique = {}
        for item in items:
            unique.setdefault(item["idempotency_key"], item)
        t = time.perf_counter()
        with conn.cursor().copy(
            "COPY bench_copy (agent_id, external_customer_id, event_name, occurred_at, "
            "received_at, idempotency_key, data) FROM STDIN"
        ) as copy:
            for item in unique.values():
                copy.write_row(
                    (
                        agent_id,
                        item["customer_id"],
                        item["event_name"],
                        item["occurred_at"],
                        now,
                        item["idempotency_key"],
                        json.dumps(item["data"]),
                    )
                )
        conn.commit()
        elapsed = time.perf_counter() - t
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return len(items) / elapsed


def main():
    database_url, env, key = agent_world("bench_ingestion")
    rng = random.Random(7)
    items = make_signals(SIGNALS, rng, "bulk")
    bodies = [
        json.dumps({"signals": items[i : i + BATCH]}).encode() for i in range(0, len(items), BATCH)
    ]
    singles = [
        json.dumps({**s, "idempotency_key": None}).encode()
        for s in make_signals(SINGLE_REQUESTS, rng, "single")
    ]

    server = Server(env)
    try:
        t = time.perf_counter()
        bulk_latencies = run_parallel(bodies, f"{server.url}/api/v1/signals/bulk", key, 2)
        bulk_elapsed = time.perf_counter() - t
        if shutil.which("wrk"):
            tool = "wrk"
            single_rate, p50, p99 = wrk_single(f"{server.url}/api/v1/signals", key, singles[0])
        else:
            tool = "python client; install wrk for one that leaves the CPU to the server"
            t = time.perf_counter()
            latencies = run_parallel(singles, f"{server.url}/api/v1/signals", key, CLIENTS)
            single_rate = len(singles) / (time.perf_counter() - t)
            p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
        peak = server.peak_rss_mb()
    finally:
        server.stop()

    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT count(*) FROM agents_signal").fetchone()[0]
        costs = conn.execute("SELECT count(*) FROM agents_cost").fetchone()[0]
    copy_rate = copy_baseline(database_url, items)
    bulk_rate = SIGNALS / bulk_elapsed
    print(
        f"bulk:   {SIGNALS:,} signals in {bulk_elapsed:.1f} s = {bulk_rate:,.0f} signals/s "
        f"(batches of {BATCH}, 2 clients; p50 {percentile(bulk_latencies, 50) * 1000:.0f} ms, "
        f"p99 {percentile(bulk_latencies, 99) * 1000:.0f} ms per batch)"
    )
    print(f"stored: {stored:,} signals and {costs:,} costs in all (replays stored nothing)")
    print(
        f"single: {single_rate:,.0f} requests/s with {CLIENTS} connections ({tool}); "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(f"server: peak RSS {peak:.0f} MB (largest gunicorn process, 2 workers)")
    print(
        f"COPY:   {copy_rate:,.0f} rows/s raw baseline; bulk API is "
        f"{bulk_rate / copy_rate:.2f}x of COPY"
    )


def wrk_single(url: str, key: str, body: bytes, seconds: int = 15) -> tuple[float, float, float]:
    """requests/s, p50 ms, p99 ms of one endpoint measured by wrk, a C load generator that
    leaves the two cores to the server and PostgreSQL."""
    lua = (
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("RESULT %f %f %f %d\\n",\n'
        "    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,\n"
        "    latency:percentile(99) / 1000, summary.errors.status))\n"
        "end\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(lua)
        script.flush()
        out = subprocess.run(
            ["wrk", "-t2", f"-c{CLIENTS}", f"-d{seconds}s", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rate, p50, p99, bad = next(x for x in out.splitlines() if x.startswith("RESULT")).split()[1:]
    if int(bad):
        raise SystemExit(f"{bad} non-2xx responses from wrk")
    return float(rate), float(p50), float(p99)


if __name__ == "__main__":
    main()
