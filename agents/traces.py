"""Costs from traces: LLM spans stored as costs, and costs linked to the signal whose
outcome they produced.

Here a traced cost is linked to a signal by scope: the signal's `data.paid.paid_scope_id`
equals the span's `paid_scope_id`, for the same agent and customer, within a day of the
call. Whichever arrives second links them: storing spans links them to signals already
stored, storing signals claims the costs already stored. Two that arrive at the same
moment in concurrent transactions do not see each other; closing a period links them
(billing.attribution), and links by trace id and workflow there, where it knows which
signals are outcomes."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.dispatch import Signal as Event

from agents.models import Agent, Cost, Signal
from agents.pricing import PriceError, catalogue_price
from config.db import statistics_ensure
from customers.models import Customer


@dataclass
class SpanCost:
    """One LLM span, validated (agents.api.otlp_spans): what becomes one Cost."""

    agent: Agent
    trace_id: str
    span_id: str
    name: str
    external_customer_id: str
    scope_id: str | None
    workflow_id: str | None
    vendor: str
    model: str
    tokens: dict[str, int]
    started_at: datetime
    ended_at: datetime
    amount: Decimal | None = None  # the span's own cost, if it stated one
    metadata: dict = field(default_factory=dict)


# Sent after the commit that linked traced costs to signals stored before them, with
# those signals' ids: billing refreshes the margins of invoices that already billed them.
costs_linked = Event()


def spans_store(spans, *, parents=None) -> None:
    """Store each span (agents.api.otlp_spans.SpanCost) as one Cost, at most once per
    (trace id, span id): a re-exported span stores nothing. Costs stored by earlier
    exports take the attribution their parent spans (`parents`, by trace id) bring now.
    Then link them to their signals. One transaction: all of the export's costs or
    none."""
    parents = parents or {}
    if not spans and not parents:
        return
    external_ids = {s.external_customer_id for s in spans if s.external_customer_id}
    external_ids |= {
        p["external_customer_id"] for p in parents.values() if "external_customer_id" in p
    }
    customers = dict(
        Customer.objects.filter(external_id__in=external_ids).values_list("external_id", "id")
    )
    costs = []
    for span in spans:
        amount = span.amount
        priced = False
        if amount is None:
            try:
                amount = catalogue_price(
                    vendor=span.vendor, model=span.model, tokens=span.tokens, at=span.started_at
                )
            except PriceError:
                amount = None  # stored unpriced, counted as such: never a silent zero
            priced = amount is not None
        costs.append(
            Cost(
                agent=span.agent,
                customer_id=customers.get(span.external_customer_id),
                external_customer_id=span.external_customer_id,
                workflow_id=span.workflow_id,
                category=Cost.Category.LLM,
                amount=amount,
                currency="USD",
                vendor=span.vendor,
                model=span.model,
                input_tokens=span.tokens.get("input_tokens"),
                output_tokens=span.tokens.get("output_tokens"),
                cache_read_tokens=span.tokens.get("cache_read_tokens"),
                cache_write_tokens=span.tokens.get("cache_write_tokens"),
                priced_from_catalogue=priced,
                occurred_at=span.ended_at,
                metadata=span.metadata,
                trace_id=span.trace_id,
                span_id=span.span_id,
                scope_id=span.scope_id,
                span_name=span.name,
            )
        )
    # Traced costs are read by lists of trace ids: planned by guess on a table never
    # analysed, that is a sequential scan per export (measured: 40-60 ms at 200,000 costs).
    statistics_ensure([Cost], remember=True)
    with transaction.atomic():
        Cost.objects.bulk_create(costs, batch_size=1000, ignore_conflicts=True)
        # Signals usually come after their spans: look for them first (two index lookups
        # on small partial indexes), and link only the costs that have one.
        claimed = _traces_with_signals(costs) | _inherit(parents, customers)
        if claimed and costs_link(Cost.objects.filter(trace_id__in=claimed)):
            signal_ids = set(
                Cost.objects.filter(trace_id__in=claimed, signal__isnull=False).values_list(
                    "signal_id", flat=True
                )
            )
            transaction.on_commit(lambda: costs_linked.send(sender=Cost, signal_ids=signal_ids))


def _inherit(parents: dict[tuple[str, int], dict], customers: dict[str, int]) -> set[str]:
    """Give costs already stored the attribution a parent span of their trace and agent
    brings (only what they lack). Returns the traces of the costs changed."""
    if not parents:
        return set()
    # Only the traces' costs are read, by the unique (trace id, span id) index whatever
    # the planner knows of the table (a new one is not analysed yet); which of them lack
    # something is decided here.
    rows = Cost.objects.filter(
        trace_id__in={trace for trace, _ in parents}, span_id__isnull=False
    ).values(
        "pk", "trace_id", "agent_id", "signal_id", "external_customer_id", "scope_id", "workflow_id"
    )
    updates: dict[tuple, list[int]] = {}
    for row in rows:
        waiting = row["signal_id"] is None
        lent = parents.get((row["trace_id"], row["agent_id"]), {}) if waiting else {}
        update = tuple(sorted((k, v) for k, v in lent.items() if not row[k]))
        if update:
            updates.setdefault((row["trace_id"], update), []).append(row["pk"])
    for (_, update), pks in updates.items():
        values = dict(update)
        if "external_customer_id" in values:
            values["customer_id"] = customers.get(values["external_customer_id"])
        Cost.objects.filter(pk__in=pks).update(**values)
    return {trace for trace, _ in updates}


def _traces_with_signals(costs: list[Cost]) -> set[str]:
    """The trace ids of those `costs` whose signal (by scope) may be stored."""
    claimed: set[str] = set()
    scopes: dict[tuple, set[str]] = {}
    for c in costs:
        if c.scope_id:
            key = (c.agent_id, c.scope_id, c.external_customer_id)
            scopes.setdefault(key, set()).add(c.trace_id)
    if scopes:
        found = Signal.objects.filter(
            agent_id__in={agent for agent, _, _ in scopes},
            scope_id__in={scope for _, scope, _ in scopes},
        ).values_list("agent_id", "scope_id", "external_customer_id")
        for key in found:
            claimed |= scopes.get(key, set())
    return claimed


def signal_link_keys(data: dict) -> tuple[str | None, str | None]:
    """(scope id, trace id) a signal's data names: `data.paid.paid_scope_id` (an integer
    from Paid's SDK, or a string) and `data.trace_id` (32 hex digits)."""
    paid = data.get("paid")
    scope = paid.get("paid_scope_id") if isinstance(paid, dict) else None
    if isinstance(scope, bool) or not isinstance(scope, int | str):
        scope = None
    elif isinstance(scope, int):
        scope = str(scope)
    elif not (0 < len(scope) <= 64 and scope.isprintable()):
        scope = None
    trace = data.get("trace_id")
    if not (isinstance(trace, str) and len(trace) == 32):
        trace = None
    else:
        trace = trace.lower()
        if not all(c in "0123456789abcdef" for c in trace) or trace == "0" * 32:
            trace = None
    return scope, trace


# Paid's scope ids are random 31-bit numbers, so one agent and customer see the same
# one again over time: a scope links only to a signal within this much of the call.
SCOPE_WINDOW = timedelta(days=1)


def costs_link(costs) -> int:
    """Link the traced costs among `costs` that wait for their signal, by scope (same
    agent, customer and scope id, the signal within SCOPE_WINDOW of the call). A linked
    cost takes the signal's customer and workflow when it has none. Returns how many
    were linked."""
    by_scope = Signal.objects.filter(
        agent_id=OuterRef("agent_id"),
        scope_id=OuterRef("scope_id"),
        external_customer_id=OuterRef("external_customer_id"),
        occurred_at__gte=OuterRef("occurred_at") - SCOPE_WINDOW,
        occurred_at__lte=OuterRef("occurred_at") + SCOPE_WINDOW,
    ).order_by("pk")
    waiting = costs.filter(signal__isnull=True, scope_id__isnull=False)
    return link_to_first(waiting, by_scope)


def costs_waiting_for(signals) -> "QuerySet[Cost]":
    """The traced costs that the given (just stored) signals may claim."""
    match = Q(pk__in=[])
    for signal in signals:
        match |= Q(agent_id=signal.agent_id, scope_id=signal.scope_id)
    return Cost.objects.filter(match)


def link_to_first(costs, signals) -> int:
    first = signals[:1]
    return costs.filter(Exists(signals)).update(
        signal_id=Subquery(first.values("pk")),
        customer_id=Coalesce("customer_id", Subquery(first.values("customer_id"))),
        external_customer_id=Coalesce(
            NullIf("external_customer_id", Value("")),
            Subquery(first.values("external_customer_id")),
        ),
        workflow_id=Coalesce("workflow_id", Subquery(first.values("workflow_id"))),
    )
