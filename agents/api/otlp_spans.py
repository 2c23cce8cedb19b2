"""OTLP spans to cost inputs: which spans are LLM calls, their model and token usage
(OpenInference or OpenTelemetry GenAI attributes), and who they belong to.

Only the attributes named here are read; everything else a span carries (prompts,
outputs, tool arguments) is dropped on arrival and never stored."""

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from agents.api.field_checks import (
    FUTURE_TOLERANCE,
    Collector,
    earliest_accepted,
    text_problem,
)
from agents.api.inputs import AgentResolver
from agents.services import IngestError, cost_amount
from agents.traces import SpanCost

# Who a span belongs to; read from the span, else its parents in the same export, else
# its resource. Paid's SDK sets them on every span of a @paid_tracing call.
CUSTOMER = ("external_customer_id", "customer.external_id")
AGENT = ("external_agent_id", "external_product_id")
SCOPE = ("paid_scope_id",)
WORKFLOW = ("workflow_id", "metadata.workflow_id", "paid.workflow_id")

# Usage: the GenAI convention first, where both appear.
MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
VENDOR = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
TOKENS = {
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
}
# A span that states its own cost (USD) keeps that amount.
OWN_COST = ("gen_ai.usage.cost", "llm.cost.total")

ATTRIBUTION = {*CUSTOMER, *AGENT, *SCOPE, *WORKFLOW}
READ = {*ATTRIBUTION, *MODEL, *VENDOR, *OWN_COST, *(n for names in TOKENS.values() for n in names)}
METADATA_PREFIX = "metadata."
MAX_METADATA = 20
MAX_TOKENS = 1_000_000_000  # per count and span; more is a broken counter, not a call
MAX_TEXT = 200
MAX_SCOPE = 64
MAX_SPANS = 10_000  # per export; OpenTelemetry's batch processor sends 512
NOT_SCALAR = object()  # an attribute we read, sent as an array, a map or bytes


@dataclass
class Parsed:
    costs: list[SpanCost] = field(default_factory=list)
    # Attribution carried by spans without usage, by trace id: what costs exported
    # earlier in the same trace (children end, and are exported, before their parent)
    # take when they lack it.
    parents: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)  # (trace, agent)
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    def reject(self, span_ref: str, problem: str) -> None:
        self.rejected += 1
        if len(self.problems) < 5:
            self.problems.append(f"span {span_ref}: {problem}")


def spans_count(request) -> int:
    return sum(
        len(scope_spans.spans)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
    )


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(any_value, kind)
    return None  # arrays, maps and bytes carry nothing we read


def _attributes(key_values, *, keep_metadata: bool) -> dict:
    found = {}
    for kv in key_values:
        key = kv.key
        if key in READ:
            value = _value(kv.value)
            found[key] = NOT_SCALAR if value is None else value
        elif keep_metadata and key.startswith(METADATA_PREFIX):
            value = _value(kv.value)
            if value is not None:
                found[key] = value
    return found


def _first(attrs: dict, names: Iterable[str]):
    for name in names:
        if name in attrs:
            return attrs[name], name
    return None, None


def _text(attrs: dict, names, *, required=False) -> str | None:
    value, name = _first(attrs, names)
    if value is None:
        if required:
            raise IngestError({names[0]: ["is missing."]})
        return None
    if (
        value is NOT_SCALAR
        or isinstance(value, bool)
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise IngestError({name: ["must be a string."]})
    if isinstance(value, float):
        value = int(value)
    value = str(value)
    problem = text_problem(value)
    if problem:
        raise IngestError({name: [problem]})
    limit = MAX_SCOPE if names is SCOPE else MAX_TEXT
    if len(value) > limit:
        raise IngestError({name: [f"is longer than {limit} characters."]})
    return value


def _count(attrs: dict, names) -> int | None:
    value, name = _first(attrs, names)
    if value is None:
        return None
    if value is NOT_SCALAR or isinstance(value, bool) or not isinstance(value, int | float):
        raise IngestError({name: ["must be a whole number of tokens."]})
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise IngestError({name: ["must be a whole number of tokens."]})
    value = int(value)
    if value < 0:
        raise IngestError({name: ["cannot be negative."]})
    if value > MAX_TOKENS:
        raise IngestError({name: [f"is over {MAX_TOKENS:,} tokens for one call."]})
    return value


def _time(nanos: int, now: datetime, name: str) -> datetime:
    if not nanos:
        raise IngestError({name: ["is missing."]})
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=nanos // 1000)
    if moment < earliest_accepted():
        raise IngestError({name: ["is before SIGNALS_EARLIEST_DATE."]})
    if moment > now + FUTURE_TOLERANCE:
        raise IngestError({name: ["is more than 5 minutes in the future."]})
    return moment


def _metadata(attrs: dict) -> dict:
    found = {}
    for key, value in attrs.items():
        if key.startswith(METADATA_PREFIX) and len(found) < MAX_METADATA:
            name = key[len(METADATA_PREFIX) :]
            if not name or len(name) > 100 or text_problem(name):
                continue
            if isinstance(value, str):
                if text_problem(value) or len(value) > MAX_TEXT:
                    continue
            elif isinstance(value, float) and not math.isfinite(value):
                continue
            found[name] = value
    return found


def spans_parse(request, *, resolver: AgentResolver, now: datetime) -> Parsed:
    """The LLM spans of an ExportTraceServiceRequest as SpanCost, the rest counted.

    A span is an LLM call when it names a model and has token usage or its own cost.
    Other spans only lend their attribution (customer, agent, scope, workflow) to
    their descendants in the same export. A refused span is counted with why."""
    parsed = Parsed()
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes, keep_metadata=False)
        spans = [span for scope_spans in resource_spans.scope_spans for span in scope_spans.spans]
        # Span ids are unique within their trace only: spans are known by both.
        own = {}
        parents = {}
        for span in spans:
            key = (span.trace_id, span.span_id)
            own[key] = _attributes(span.attributes, keep_metadata=True)
            parents[key] = (span.trace_id, span.parent_span_id) if span.parent_span_id else None
        for span in spans:
            attrs = own[(span.trace_id, span.span_id)]
            who = _inherited(span, attrs, own, parents, resource)
            if _usage_named(attrs):
                ref = span.span_id.hex() or "(no id)"
                try:
                    parsed.costs.append(_span_cost(span, attrs, who, resolver, now))
                except IngestError as exc:
                    where, messages = next(iter(exc.errors.items()))
                    parsed.reject(ref, f"{where}: {messages[0]}")
            else:
                _lend(parsed, span, attrs, who, resolver)
    return parsed


def _usage_named(attrs: dict) -> bool:
    """A span is an LLM call (a cost) when it names a model, token usage or its own
    cost; one naming usage without a model is refused for it, not passed over."""
    names = (MODEL, OWN_COST, *TOKENS.values())
    return any(_first(attrs, group)[0] is not None for group in names)


def _lend(parsed: Parsed, span, attrs: dict, who: dict, resolver) -> None:
    """Keep a span's own attribution (customer, scope, workflow) for the costs of its
    trace and agent (the agent it names, or its ancestors or resource do, that the key
    may send) exported before it."""
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return
    try:
        errors = Collector()
        agent = resolver.resolve(errors, external_id=_text(who, AGENT), field="agent")
    except IngestError:
        return
    if errors.errors or agent is None:
        return
    lent = {}
    for ours, names in (
        ("external_customer_id", CUSTOMER),
        ("scope_id", SCOPE),
        ("workflow_id", WORKFLOW),
    ):
        try:
            value = _text(attrs, names)
        except IngestError:
            continue  # a span that is not a cost is not refused for its attributes
        if value:
            lent[ours] = value
    if lent:
        parsed.parents.setdefault((span.trace_id.hex(), agent.pk), {}).update(lent)


def _inherited(span, attrs, own, parents, resource) -> dict:
    """The span's attribution keys, falling back to its ancestors', then the resource's."""
    merged = {k: v for k, v in resource.items() if k in ATTRIBUTION}
    chain = []
    parent = parents.get((span.trace_id, span.span_id))
    while parent and parent in own and len(chain) < 64:
        chain.append(own[parent])
        parent = parents.get(parent)
    for ancestor in reversed(chain):
        merged.update((k, v) for k, v in ancestor.items() if k in ATTRIBUTION)
    merged.update((k, v) for k, v in attrs.items() if k in ATTRIBUTION)
    return merged


def _span_cost(span, attrs, who, resolver, now) -> SpanCost:
    tokens = {ours: _count(attrs, names) for ours, names in TOKENS.items()}
    tokens = {k: v for k, v in tokens.items() if v is not None}
    own_cost, cost_name = _first(attrs, OWN_COST)
    model = _text(attrs, MODEL)
    if not tokens and own_cost is None:
        raise IngestError({MODEL[-1]: ["names a model without token usage or a cost."]})
    if model is None and own_cost is None:
        raise IngestError(
            {"gen_ai.request.model": ["is missing: token usage cannot be priced without it."]}
        )
    amount = None
    if own_cost is not None:
        if (
            own_cost is NOT_SCALAR
            or isinstance(own_cost, bool)
            or not isinstance(own_cost, int | float | str)
            or (isinstance(own_cost, str) and "_" in own_cost)
        ):
            raise IngestError({cost_name: ["must be a number."]})
        amount = cost_amount(own_cost, where=cost_name)
    if len(span.trace_id) != 16 or not any(span.trace_id):
        raise IngestError({"trace_id": ["must be 16 bytes, not all zero."]})
    if len(span.span_id) != 8 or not any(span.span_id):
        raise IngestError({"span_id": ["must be 8 bytes, not all zero."]})
    errors = Collector()
    agent = resolver.resolve(errors, external_id=_text(who, AGENT), field="external_agent_id")
    errors.check()
    ended_at = _time(span.end_time_unix_nano, now, "end_time_unix_nano")
    started_at = _time(span.start_time_unix_nano, now, "start_time_unix_nano")
    return SpanCost(
        agent=agent,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        name=(span.name if not text_problem(span.name or " ") else "")[:MAX_TEXT],
        external_customer_id=_text(who, CUSTOMER) or "",
        scope_id=_text(who, SCOPE),
        workflow_id=_text(who, WORKFLOW),
        vendor=(_text(attrs, VENDOR) or "")[:100],
        model=model or "",
        tokens=tokens,
        started_at=started_at,
        ended_at=ended_at,
        amount=amount,
        metadata=_metadata(attrs),
    )
