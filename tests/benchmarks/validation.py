"""Validation time of one batch of 1,000 request items, without a database or a server.

Run: `python tests/benchmarks/validation.py` (BENCH_ROUNDS to change the rounds).

For each request shape (v1 and v2 signals and costs) it prints the best and median
time to validate the same 1,000 items with the validator the views use
(agents/api/inputs.py) and, as the baseline in the same run, with DRF's
`Serializer(many=True).is_valid()` on the request serializers of the OpenAPI schema.
The figures chose how the ingestion fields are declared once (see agents/api/fields.py).
"""

import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from agents.api import inputs  # noqa: E402
from agents.api import serializers as s  # noqa: E402
from agents.models import Agent, AgentAPIKey  # noqa: E402
from agents.services import IngestError  # noqa: E402

BATCH = 1000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 30))
START = datetime.now(UTC) - timedelta(days=1)


def when(i: int) -> str:
    return (START + timedelta(seconds=i)).isoformat()


def signals_v1(n: int) -> list[dict]:
    return [
        {
            "event_name": "document_processed",
            "customer_id": f"cus_{i % 500}",
            "occurred_at": when(i),
            "idempotency_key": f"sig-{i}",
            "workflow_id": f"wf-{i % 50}",
            "data": {"llm_tokens": 15000, "processing_time": 45.2},
        }
        for i in range(n)
    ]


def costs_v1(n: int) -> list[dict]:
    return [
        {
            "customer_id": f"cus_{i % 500}",
            "amount": "0.0123",
            "currency": "usd",
            "category": "tool",
            "vendor": "openai",
            "model": "gpt-4o",
            "input_tokens": 1200,
            "output_tokens": 300,
            "occurred_at": when(i),
            "idempotency_key": f"cost-{i}",
            "metadata": {"step": "extract"},
        }
        for i in range(n)
    ]


def signals_v2(n: int) -> list[dict]:
    return [
        {
            "eventName": "document_processed",
            "customer": {"externalCustomerId": f"cus_{i % 500}"},
            "timestamp": when(i),
            "idempotencyKey": f"sig-{i}",
            "data": {"workflowId": f"wf-{i % 50}", "pages": 3},
        }
        for i in range(n)
    ]


def costs_v2(n: int) -> list[dict]:
    return [
        {
            "type": "cost",
            "customer": {"externalCustomerId": f"cus_{i % 500}"},
            "amount": 0.0123,
            "currency": "USD",
            "vendor": "openai",
            "model": "gpt-4o",
            "timestamp": when(i),
            "idempotencyKey": f"cost-{i}",
            "metadata": {"workflowId": f"wf-{i % 50}"},
        }
        for i in range(n)
    ]


def timed(run) -> tuple[float, float]:
    times = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1000)
    return min(times), statistics.median(times)


def main() -> None:
    # An agent key resolves items that name no agent without a query: no database needed.
    key = AgentAPIKey(agent=Agent(pk=1, external_id="bench-agent", active=True))
    now = datetime.now(UTC)
    shapes = [
        ("v1 signals", signals_v1(BATCH), inputs.signal_v1, s.SignalInSerializer),
        ("v1 costs", costs_v1(BATCH), inputs.cost_v1, s.CostInSerializer),
        ("v2 signals", signals_v2(BATCH), inputs.signal_v2, s.V2SignalSerializer),
        ("v2 costs", costs_v2(BATCH), inputs.cost_v2, s.V2CostSerializer),
    ]
    print(f"Validating {BATCH:,} items, {ROUNDS} rounds; best / median in ms")
    print(f"{'shape':<12}{'inputs.py':>22}{'DRF serializer':>22}{'DRF / inputs':>14}")
    for name, items, parse, serializer in shapes:

        def ours(items=items, parse=parse, name=name):
            resolver = inputs.AgentResolver(key)
            for item in items:
                try:
                    parse(item, resolver, now)
                except IngestError as exc:
                    raise SystemExit(f"{name}: a benchmark item is invalid: {exc.errors}") from None

        def drf(items=items, serializer=serializer, name=name):
            checked = serializer(data=items, many=True)
            if not checked.is_valid():
                raise SystemExit(f"{name}: DRF refused a benchmark item: {checked.errors[:1]}")

        own_best, own_median = timed(ours)
        drf_best, drf_median = timed(drf)
        print(
            f"{name:<12}{own_best:>10.1f} / {own_median:>7.1f}"
            f"{drf_best:>12.1f} / {drf_median:>7.1f}{drf_median / own_median:>13.1f}x"
        )


if __name__ == "__main__":
    main()
