"""Writes of standalone costs (the costs endpoints): each stored at most once per
(agent, idempotency key), linked to the signal they name."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import DataError, transaction
from django.utils import timezone

from agents.models import Agent, Cost, Signal
from agents.services import (
    IngestResult,
    insert_skipping_stored_keys,
    store_item_by_item,
)
from customers.models import Customer


@dataclass
class CostInput:
    """One well-formed standalone cost, as validated by the API layer."""

    agent: Agent
    amount: Decimal
    currency: str
    category: str = Cost.Category.OTHER
    external_customer_id: str = ""
    vendor: str = ""
    model: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    priced_from_catalogue: bool = False
    workflow_id: str | None = None
    signal_idempotency_key: str | None = None
    occurred_at: datetime | None = None
    idempotency_key: str | None = None
    metadata: dict = field(default_factory=dict)


def costs_ingest(*, items: list[CostInput]) -> IngestResult:
    """Store standalone costs, each at most once per (agent, idempotency_key).

    A cost naming a signal's idempotency key is linked to that signal (and takes
    its customer and workflow when it has none); one naming an unknown customer
    is kept unattributed. The batch is one transaction; replays, even concurrent
    ones, store nothing.
    """
    result = IngestResult()
    try:
        with transaction.atomic():
            result.stored, result.duplicates, result.errors = _store_costs(items)
    except DataError:
        store_item_by_item(result, list(enumerate(items)), _store_costs)
    return result


def _store_costs(items: list[CostInput]):
    now = timezone.now()
    signal_keys = {
        (i.agent.pk, i.signal_idempotency_key) for i in items if i.signal_idempotency_key
    }
    signals = {}
    for agent_id, key in signal_keys:
        signal = Signal.objects.filter(agent_id=agent_id, idempotency_key=key).first()
        if signal:
            signals[(agent_id, key)] = signal
    external_ids = {i.external_customer_id for i in items if i.external_customer_id}
    customers = dict(
        Customer.objects.filter(external_id__in=external_ids).values_list("external_id", "id")
    )
    stored, duplicates, errors, seen = {}, {}, {}, {}
    for index, item in enumerate(items):
        key = (item.agent.pk, item.idempotency_key) if item.idempotency_key else None
        if key and key in seen:
            duplicates[index] = seen[key]
            continue
        signal = None
        if item.signal_idempotency_key:
            signal = signals.get((item.agent.pk, item.signal_idempotency_key))
            if signal is None:
                errors[index] = {
                    "signal_idempotency_key": [
                        f"No signal of agent {item.agent.external_id} has idempotency key "
                        f"{item.signal_idempotency_key!r}. Post the signal first."
                    ]
                }
                continue
        external_id = item.external_customer_id or (signal.external_customer_id if signal else "")
        cost = Cost(
            agent=item.agent,
            customer_id=customers.get(external_id) or (signal.customer_id if signal else None),
            external_customer_id=external_id,
            signal=signal,
            workflow_id=item.workflow_id or (signal.workflow_id if signal else None),
            category=item.category,
            amount=item.amount,
            currency=item.currency,
            vendor=item.vendor,
            model=item.model,
            input_tokens=item.input_tokens,
            output_tokens=item.output_tokens,
            cache_read_tokens=item.cache_read_tokens,
            cache_write_tokens=item.cache_write_tokens,
            priced_from_catalogue=item.priced_from_catalogue,
            occurred_at=item.occurred_at or now,
            received_at=now,
            idempotency_key=item.idempotency_key or None,
            metadata=item.metadata,
        )
        if key:
            seen[key] = cost
        stored[index] = cost
    collided = insert_skipping_stored_keys(Cost, list(stored.values()))
    for index, cost in list(stored.items()):
        if cost.pk is None:
            duplicates[index] = collided[(cost.agent_id, cost.idempotency_key)]
            del stored[index]
    return stored, duplicates, errors
