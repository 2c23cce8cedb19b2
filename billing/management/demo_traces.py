"""Demo data: the support agent's LLM calls arrive as traced spans (as Paid's SDK exports
them), each outcome's calls under the Paid scope its signal names."""

import random
import secrets
from datetime import datetime, timedelta

from agents.models import Agent
from agents.traces import SpanCost, spans_store

MODELS = [
    ("openai", "gpt-4o-2024-08-06"),
    ("anthropic", "claude-sonnet-4"),
    ("openai", "gpt-4o-mini"),
]
UNKNOWN_MODEL = ("house", "house-ranker-2")  # not in the catalogue: shows as unpriced


def demo_scope(rng: random.Random) -> int:
    return rng.randint(1, 2**31 - 1)


def demo_spans_store(
    rng: random.Random, agent: Agent, scopes: list[tuple[str, int, datetime]]
) -> int:
    """One to three LLM calls per (customer external id, scope id, outcome time)."""
    spans = []
    for customer, scope, at in scopes:
        trace = secrets.token_hex(16)
        for call in range(rng.randint(1, 3)):
            vendor, model = UNKNOWN_MODEL if rng.random() < 0.02 else rng.choice(MODELS)
            ended = at - timedelta(seconds=5 * (call + 1))
            spans.append(
                SpanCost(
                    agent=agent,
                    trace_id=trace,
                    span_id=secrets.token_hex(8),
                    name=f"paid.trace.ChatCompletion {call + 1}",
                    external_customer_id=customer,
                    scope_id=str(scope),
                    workflow_id=None,
                    vendor=vendor,
                    model=model,
                    tokens={
                        "input_tokens": rng.randint(800, 12_000),
                        "output_tokens": rng.randint(50, 1_500),
                    },
                    started_at=ended - timedelta(seconds=2),
                    ended_at=ended,
                )
            )
    for first in range(0, len(spans), 500):
        spans_store(spans[first : first + 500])
    return len(spans)
