"""Writes on agents' facts: signals and costs.

Ingestion is batch-oriented: one request of 1,000 signals is a handful of
queries, and the seed command uses the same path as the API.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from numbers import Number

from django.db import DataError, transaction
from django.db.models import OuterRef, Subquery
from django.db.models.constants import OnConflict
from django.utils import timezone

from agents.models import Agent, Cost, Signal
from agents.pricing import MAX_COST
from agents.traces import costs_link, costs_waiting_for, signal_link_keys
from customers.currencies import STORED, currency_parse
from customers.models import Customer

logger = logging.getLogger(__name__)
COST_SUFFIX = "_cost"
COST_CATEGORIES = {choice.value for choice in Cost.Category}


class IngestError(ValueError):
    """A per-item problem: `errors` maps a field to what to fix."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(str(errors))
        self.errors = errors


def cost_amount(value, *, where: str) -> Decimal:
    """A cost amount as Decimal (never through float arithmetic), or IngestError."""
    if isinstance(value, bool) or not isinstance(value, Number | str):
        raise IngestError({where: ["must be a number, e.g. 0.045."]})
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise IngestError({where: [f"must be a number, got {value!r}."]}) from None
    if not amount.is_finite():
        raise IngestError({where: ["must be a finite number."]})
    if amount < 0:
        raise IngestError({where: ["cannot be negative."]})
    if amount >= MAX_COST:
        raise IngestError({where: ["is too large (at most 999,999,999,999.99999999)."]})
    return amount.quantize(STORED, rounding=ROUND_HALF_UP)  # the one rounding on intake


def costs_in_signal_data(data: Mapping) -> list[tuple[str, str, Decimal]]:
    """Every `<category>_cost` key of a signal's data as (key, category, amount).

    The category is the key's prefix when it is one we know (llm, infrastructure,
    tool, human), else "other". Other keys (llm_tokens, processing_time) stay data.
    """
    found = []
    for key, value in data.items():
        if not key.endswith(COST_SUFFIX) or value is None:
            continue
        prefix = key[: -len(COST_SUFFIX)]
        category = prefix if prefix in COST_CATEGORIES else Cost.Category.OTHER
        found.append((key, category, cost_amount(value, where=f"data.{key}")))
    return found


@dataclass
class SignalInput:
    """One well-formed signal, as validated by the API layer."""

    agent: Agent
    event_name: str
    external_customer_id: str
    occurred_at: datetime | None = None
    idempotency_key: str | None = None
    workflow_id: str | None = None
    data: dict = field(default_factory=dict)


@dataclass
class IngestResult:
    """What became of each input (signal or cost), by its index: stored, duplicate or
    failed."""

    stored: dict[int, Signal | Cost] = field(default_factory=dict)
    duplicates: dict[int, Signal | Cost] = field(default_factory=dict)
    errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)


def _text(data: Mapping, key: str) -> str:
    value = data.get(key)
    return value[:100] if isinstance(value, str) else ""


def signal_cost_currency(data: Mapping) -> str:
    currency = data.get("currency", "USD")
    if not isinstance(currency, str):
        raise IngestError({"data.currency": ["must be an ISO 4217 code such as USD."]})
    try:
        return currency_parse(currency)
    except ValueError as exc:
        raise IngestError({"data.currency": [str(exc)]}) from None


def signals_ingest(*, items: list[SignalInput]) -> IngestResult:
    """Store signals and the costs in their data, each at most once.

    Invariants: `(agent, idempotency_key)` is unique in the database and rows are
    inserted with ON CONFLICT DO NOTHING, so a replay, even one racing in a
    concurrent request, stores nothing and is reported as a duplicate; the batch
    is one transaction, so an interruption stores all of its valid items or none;
    unknown customers are kept unattributed.
    """
    result = IngestResult()
    prepared: list[tuple[int, SignalInput, list, str]] = []
    for index, item in enumerate(items):
        try:
            costs = costs_in_signal_data(item.data)
            currency = signal_cost_currency(item.data) if costs else "USD"
        except IngestError as exc:
            result.errors[index] = exc.errors
            continue
        prepared.append((index, item, costs, currency))
    try:
        with transaction.atomic():
            result.stored, result.duplicates = _store_signals(prepared)
    except DataError:
        store_item_by_item(result, [(entry[0], entry) for entry in prepared], _store_signals)
    return result


def store_item_by_item(result: IngestResult, entries, store) -> None:
    """After the database refused a value of a batch: store it again item by item, each
    in a savepoint, so the refused item fails alone and its neighbours are stored.

    Validation refuses what the database would; this is the net under it. The batch
    stays one transaction."""
    logger.exception("the database refused a value that validation let through")
    with transaction.atomic():
        for index, entry in entries:
            try:
                with transaction.atomic():
                    outcome = store([entry])
            except DataError as exc:
                reason = str(exc).splitlines()[0] if str(exc) else "a value is out of range"
                result.errors[index] = {
                    "non_field_errors": [f"Refused by the database: {reason}. Nothing stored."]
                }
                continue
            # One entry: its row (or its error) is the only value of each mapping.
            for mapping, found in zip(
                (result.stored, result.duplicates, result.errors), outcome, strict=False
            ):
                if found:
                    mapping[index] = next(iter(found.values()))


def _existing_by_key(model, items) -> dict[tuple[int, str], object]:
    """Rows of `model` already stored under the (agent, idempotency_key) of `items`."""
    keys_by_agent: dict[int, set[str]] = {}
    for item in items:
        if item.idempotency_key:
            keys_by_agent.setdefault(item.agent_id, set()).add(item.idempotency_key)
    existing = {}
    for agent_id, keys in keys_by_agent.items():
        for row in model.objects.filter(agent_id=agent_id, idempotency_key__in=keys):
            existing[(agent_id, row.idempotency_key)] = row
    return existing


def insert_skipping_stored_keys(model, objs: list) -> dict[tuple[int, str], object]:
    """Insert `objs`; those whose (agent, idempotency_key) is already stored, even by a
    transaction that commits while we wait, are skipped. Returns the stored rows they
    collided with, by key.

    Keyed rows go through INSERT ... ON CONFLICT DO NOTHING RETURNING (Django's
    internal `_insert`, as bulk_create uses it), so a race is not an error to retry.
    """
    keyless = [o for o in objs if not o.idempotency_key]
    keyed = sorted(
        (o for o in objs if o.idempotency_key), key=lambda o: (o.agent_id, o.idempotency_key)
    )
    model.objects.bulk_create(keyless, batch_size=1000)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    returning = [
        model._meta.pk,
        model._meta.get_field("agent"),
        model._meta.get_field("idempotency_key"),
    ]
    skipped = []
    for start in range(0, len(keyed), 1000):
        chunk = keyed[start : start + 1000]
        rows = model.objects._insert(
            chunk, fields=fields, returning_fields=returning, on_conflict=OnConflict.IGNORE
        )
        # A single skipped row comes back as None rather than an empty list.
        ids = {(agent_id, key): pk for pk, agent_id, key in filter(None, rows)}
        for obj in chunk:
            obj.pk = ids.get((obj.agent_id, obj.idempotency_key))
            if obj.pk is None:
                skipped.append(obj)
            else:
                obj._state.adding, obj._state.db = False, "default"
    return _existing_by_key(model, skipped)


def _store_signals(prepared) -> tuple[dict[int, Signal], dict[int, Signal]]:
    now = timezone.now()
    external_ids = {item.external_customer_id for _, item, _, _ in prepared}
    customers = dict(
        Customer.objects.filter(external_id__in=external_ids).values_list("external_id", "id")
    )
    # One row per key: a key repeated within the batch is a duplicate of its first use.
    first: dict[tuple[int, str], Signal] = {}
    rows: list[tuple[int, Signal, list, str]] = []
    for index, item, costs, currency in prepared:
        signal = Signal(
            agent=item.agent,
            customer_id=customers.get(item.external_customer_id),
            external_customer_id=item.external_customer_id,
            event_name=item.event_name,
            occurred_at=item.occurred_at or now,
            received_at=now,
            idempotency_key=item.idempotency_key or None,
            workflow_id=item.workflow_id or None,
            data=item.data,
        )
        signal.scope_id, signal.trace_id = signal_link_keys(item.data)
        key = (signal.agent_id, signal.idempotency_key)
        if signal.idempotency_key and key in first:
            signal = first[key]
        elif signal.idempotency_key:
            first[key] = signal
        rows.append((index, signal, costs, currency))
    collided = insert_skipping_stored_keys(Signal, list({id(r[1]): r[1] for r in rows}.values()))

    stored: dict[int, Signal] = {}
    duplicates: dict[int, Signal] = {}
    new_costs: list[Cost] = []
    created: set[int] = set()
    for index, signal, costs, currency in rows:
        if signal.pk is None:
            duplicates[index] = collided[(signal.agent_id, signal.idempotency_key)]
        elif signal.pk in created:
            duplicates[index] = signal
        else:
            created.add(signal.pk)
            stored[index] = signal
            signal_costs = [
                Cost(
                    agent_id=signal.agent_id,
                    customer_id=signal.customer_id,
                    external_customer_id=signal.external_customer_id,
                    signal=signal,
                    source_key=key,
                    workflow_id=signal.workflow_id,
                    category=category,
                    amount=amount,
                    currency=currency,
                    # The LLM cost of a signal is attributed to the model its data names.
                    vendor=_text(signal.data, "vendor") if category == Cost.Category.LLM else "",
                    model=_text(signal.data, "model") if category == Cost.Category.LLM else "",
                    occurred_at=signal.occurred_at,
                    received_at=now,
                )
                for key, category, amount in costs
            ]
            # Serializing the new signal then needs no query for its costs.
            signal._prefetched_objects_cache = {"costs": signal_costs}
            new_costs += signal_costs
    Cost.objects.bulk_create(new_costs, batch_size=1000)
    traced = [s for s in stored.values() if s.scope_id]
    if traced:  # traced costs that arrived before their signal
        costs_link(costs_waiting_for(traced))
    return stored, duplicates


@transaction.atomic
def signals_attach_unattributed(*, external_ids: Iterable[str] | None = None) -> int:
    """Attach waiting signals (and their costs) to the customer that now has their external id.

    Idempotent: only rows with no customer are touched, in one UPDATE per table.
    Returns the number of signals attached.
    """
    known = Customer.objects.values("external_id")
    customer_id = Subquery(
        Customer.objects.filter(external_id=OuterRef("external_customer_id")).values("id")[:1]
    )
    signals = Signal.objects.filter(customer__isnull=True, external_customer_id__in=known)
    costs = Cost.objects.filter(customer__isnull=True, external_customer_id__in=known)
    if external_ids is not None:
        external_ids = list(external_ids)
        signals = signals.filter(external_customer_id__in=external_ids)
        costs = costs.filter(external_customer_id__in=external_ids)
    attached = signals.update(customer_id=customer_id)
    costs.update(customer_id=customer_id)
    return attached
