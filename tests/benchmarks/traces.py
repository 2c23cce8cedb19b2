"""OTLP trace ingestion benchmark on PostgreSQL (run: `make bench-traces`).

Exports BENCH_SPANS (default 200,000) spans to /v1/traces as protobuf, in batches of
512 as the OpenTelemetry batch processor sends them, 2 clients: half are LLM spans with
usage as Paid's SDK writes them (OpenInference attributes, a prompt that is dropped),
half are their parents without usage. Prints spans/s and LLM costs/s, p50/p99 per
batch, the latency of the first export into an empty database, the peak RSS of the
server workers; then, in the same run, the same LLM costs posted as JSON through
/api/v1/costs/bulk (batches of 1,000, priced from the same catalogue), with the ratio.
"""

import json
import os
import random
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from tests.benchmarks.common import Server, agent_world, percentile
from tests.benchmarks.ingestion import run_parallel

SPANS = int(os.environ.get("BENCH_SPANS", 200_000))
BATCH = 512
COST_BATCH = 1000
MODELS = ["gpt-4o-2024-08-06", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "gpt-4.1"]
PROMPT = "Summarise the attached support ticket and propose a resolution. " * 3


def _attr(span, key, value):
    kv = span.attributes.add()
    kv.key = key
    if isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value


def make_exports(n: int, rng: random.Random):
    """Protobuf bodies and, for the baseline, the LLM spans' costs as v1 JSON items."""
    start = datetime.now(UTC) - timedelta(hours=1)
    bodies, costs = [], []
    for first in range(0, n, BATCH):
        request = ExportTraceServiceRequest()
        resource = request.resource_spans.add()
        _attr(resource.resource, "service.name", "support-bot")
        scope_spans = resource.scope_spans.add()
        scope_spans.scope.name = "openinference.instrumentation.openai"
        for i in range(first, min(first + BATCH, n), 2):
            customer = f"cus_{rng.randint(1, 1000)}"
            scope = rng.randint(1, 2**31 - 1)
            trace_id = secrets.token_bytes(16)
            at = start + timedelta(milliseconds=i)
            nanos = int(at.timestamp() * 1e9)
            parent = scope_spans.spans.add()
            parent.trace_id, parent.span_id = trace_id, secrets.token_bytes(8)
            parent.name = "paid.trace.parent_span"
            parent.start_time_unix_nano, parent.end_time_unix_nano = nanos, nanos + 10**9
            for key, value in (("external_customer_id", customer), ("paid_scope_id", scope)):
                _attr(parent, key, value)
            if i + 1 >= n:
                break
            call = scope_spans.spans.add()
            call.trace_id, call.span_id = trace_id, secrets.token_bytes(8)
            call.parent_span_id = parent.span_id
            call.name = "paid.trace.ChatCompletion"
            call.start_time_unix_nano, call.end_time_unix_nano = nanos, nanos + 9 * 10**8
            model = rng.choice(MODELS)
            prompt, completion = rng.randint(100, 5000), rng.randint(10, 1000)
            for key, value in (
                ("external_customer_id", customer),
                ("external_agent_id", "bench-agent"),
                ("paid_scope_id", scope),
                ("paid.sdk.version", "python-1.12.0"),
                ("openinference.span.kind", "LLM"),
                ("llm.system", "openai"),
                ("llm.model_name", model),
                ("llm.token_count.prompt", prompt),
                ("llm.token_count.completion", completion),
                ("llm.token_count.total", prompt + completion),
                ("input.value", PROMPT),
                ("metadata.ticket", f"T-{i}"),
            ):
                _attr(call, key, value)
            costs.append(
                {
                    "customer_id": customer,
                    "model": model,
                    "category": "llm",
                    "input_tokens": prompt,
                    "output_tokens": completion,
                    "occurred_at": at.isoformat(),
                    "idempotency_key": f"{trace_id.hex()}-{call.span_id.hex()}",
                    "metadata": {"ticket": f"T-{i}"},
                }
            )
        bodies.append(request.SerializeToString())
    return bodies, costs


def post_protobuf(url: str, key: str, body: bytes) -> float:
    t = time.perf_counter()
    response = httpx.post(
        url,
        content=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-protobuf"},
        timeout=60,
    )
    if response.status_code != 200:
        raise SystemExit(f"first export: {response.status_code} {response.text[:300]}")
    return time.perf_counter() - t


def main():
    database_url, env, key = agent_world("bench_traces")
    bodies, costs = make_exports(SPANS, random.Random(7))
    cost_bodies = [
        json.dumps({"costs": costs[i : i + COST_BATCH]}).encode()
        for i in range(0, len(costs), COST_BATCH)
    ]

    server = Server(env)
    try:
        # The cold case: the first export into empty, never analysed tables.
        first = post_protobuf(f"{server.url}/v1/traces", key, bodies[0])
        t = time.perf_counter()
        latencies = run_parallel(
            bodies[1:], f"{server.url}/v1/traces", key, 2, "application/x-protobuf"
        )
        elapsed = time.perf_counter() - t
        peak = server.peak_rss_mb()
        with psycopg.connect(database_url) as conn:
            traced = conn.execute("SELECT count(*) FROM agents_cost").fetchone()[0]
        t = time.perf_counter()
        run_parallel(cost_bodies, f"{server.url}/api/v1/costs/bulk", key, 2)
        bulk_elapsed = time.perf_counter() - t
    finally:
        server.stop()
    with psycopg.connect(database_url) as conn:
        total = conn.execute("SELECT count(*) FROM agents_cost").fetchone()[0]
        unpriced = conn.execute("SELECT count(*) FROM agents_cost WHERE amount IS NULL").fetchone()[
            0
        ]

    spans = SPANS - BATCH
    span_rate = spans / elapsed
    cost_rate = (len(costs) - BATCH // 2) / elapsed
    bulk_rate = len(costs) / bulk_elapsed
    print(
        f"traces: {spans:,} spans in {elapsed:.1f} s = {span_rate:,.0f} spans/s "
        f"= {cost_rate:,.0f} LLM costs/s (protobuf, batches of {BATCH}, half with usage, "
        f"2 clients; p50 {percentile(latencies, 50) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 99) * 1000:.0f} ms per batch)"
    )
    print(f"cold:   first export of {BATCH} spans into an empty database: {first * 1000:.0f} ms")
    print(f"stored: {traced:,} costs from spans ({unpriced:,} unpriced)")
    print(f"server: peak RSS {peak:.0f} MB (largest gunicorn process, 2 workers)")
    print(
        f"bulk:   the same {len(costs):,} costs through /api/v1/costs/bulk in "
        f"{bulk_elapsed:.1f} s = {bulk_rate:,.0f} costs/s (JSON, batches of {COST_BATCH}); "
        f"traces carry costs at {cost_rate / bulk_rate:.2f}x that rate "
        f"({total - traced:,} stored)"
    )


if __name__ == "__main__":
    main()
