"""Turning request items into SignalInput / CostInput, with a message per bad field.

The per-field rules (type, required, alias, max length, minimum, choices) are read
from the declarations in request_fields.py, which also generate the OpenAPI schema;
this module adds the rules that span fields. Plain Python rather than DRF
serializers: a batch of 1,000 signals is validated in about 2 ms here, 10x less
than with DRF (figures in request_fields.py, from tests/benchmarks/validation.py).
"""

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from numbers import Number

from agents.api.field_checks import (
    Collector,
    choice,
    cost_amount_of,
    currency_code,
    data_object,
    text,
    text_problem,
    timestamp,
    token_counts,
    unknown_fields,
)
from agents.api.request_fields import (
    COST_OVERRIDE_V2,
    COST_V1,
    COST_V2,
    CUSTOMER_V2,
    MAX_BATCH,
    MAX_COUNT,
    MAX_TEXT,
    PRODUCT_V2,
    SIGNAL_V1,
    SIGNAL_V2,
    TOKEN_FIELDS,
    USAGE_V2,
)
from agents.costs import CostInput
from agents.models import Agent, AgentAPIKey, Cost
from agents.pricing import PriceError, catalogue_price
from agents.services import IngestError, SignalInput

__all__ = ["MAX_BATCH", "AgentResolver", "cost_v1", "cost_v2", "signal_v1", "signal_v2"]


def cost_price_from_catalogue(*, vendor: str, model: str, tokens: Mapping[str, int]) -> Decimal:
    """Price token usage from the genai-prices catalogue (offline), in USD."""
    try:
        amount = catalogue_price(vendor=vendor, model=model, tokens=dict(tokens))
    except PriceError as exc:
        raise IngestError({"model": [str(exc)]}) from None
    if amount is None:
        named = f" of vendor {vendor!r}" if vendor else ""
        raise IngestError(
            {
                "model": [
                    f"Unable to find model {model!r}{named} in the price catalogue. Send an "
                    "amount and currency for this cost instead."
                ]
            }
        )
    return amount


def is_row_id(value: str) -> bool:
    """A database id: ASCII digits (str.isdigit also takes "²"), within a bigint."""
    return value.isascii() and value.isdigit() and int(value) < 2**63


class AgentResolver:
    """Which agent an item posts as, given the key it came with."""

    def __init__(self, key: AgentAPIKey):
        self.key = key
        self._cache: dict[tuple[str, str], Agent | None] = {}

    def resolve(self, errors: Collector, *, external_id=None, pk=None, field="agent_id"):
        own = self.key.agent
        if external_id is None and pk is None:
            if own is None:
                errors.add(field, "This organisation key can post as any agent: name one.")
            return own
        lookup = ("external_id", external_id) if external_id is not None else ("pk", str(pk))
        if lookup not in self._cache:
            if lookup[0] == "pk" and not is_row_id(lookup[1]):
                self._cache[lookup] = None
            else:
                self._cache[lookup] = Agent.objects.filter(**{lookup[0]: lookup[1]}).first()
        agent = self._cache[lookup]
        shown = external_id if external_id is not None else pk
        if agent is None:
            errors.add(field, f"Unknown agent {shown!r}. Create it in the admin first.")
            return None
        if own is not None and agent.pk != own.pk:
            errors.add(
                field,
                f"This key belongs to agent {own.external_id!r}; it cannot post as {shown!r}.",
            )
            return None
        if not agent.active:
            errors.add(field, f"Agent {shown!r} is inactive.")
            return None
        return agent


# --- Native v1 ---------------------------------------------------------------------------
def signal_v1(item, resolver: AgentResolver, now: datetime) -> SignalInput:
    errors = Collector()
    if not isinstance(item, dict):
        raise IngestError({"non_field_errors": ["Each signal must be a JSON object."]})
    unknown_fields(item, SIGNAL_V1, errors, put_under="data")
    event_name = text(item, SIGNAL_V1["event_name"], errors)
    customer = text(item, SIGNAL_V1["customer_id"], errors)
    agent_id = text(item, SIGNAL_V1["agent_id"], errors)
    occurred = timestamp(item, SIGNAL_V1["occurred_at"], errors, now)
    key = text(item, SIGNAL_V1["idempotency_key"], errors)
    workflow = text(item, SIGNAL_V1["workflow_id"], errors)
    data = data_object(item, SIGNAL_V1["data"], errors)
    agent = (
        resolver.resolve(errors, external_id=agent_id) if "agent_id" not in errors.errors else None
    )
    errors.check()
    return SignalInput(
        agent=agent,
        event_name=event_name,
        external_customer_id=customer,
        occurred_at=occurred,
        idempotency_key=key,
        workflow_id=workflow,
        data=data,
    )


def _priced(errors: Collector, vendor, model, tokens) -> Decimal | None:
    if not tokens:
        errors.add("amount", "Give an amount and currency, or vendor, model and token usage.")
        return None
    if not model:
        errors.add("model", "Needed to price token usage when no amount is given.")
        return None
    try:
        return cost_price_from_catalogue(vendor=vendor or "", model=model, tokens=tokens)
    except IngestError as exc:
        errors.merge(exc)
        return None


V1_TOKENS = {name: COST_V1[name] for name in TOKEN_FIELDS}


def cost_v1(item, resolver: AgentResolver, now: datetime) -> CostInput:
    errors = Collector()
    if not isinstance(item, dict):
        raise IngestError({"non_field_errors": ["Each cost must be a JSON object."]})
    unknown_fields(item, COST_V1, errors, put_under="metadata")
    agent_id = text(item, COST_V1["agent_id"], errors)
    customer = text(item, COST_V1["customer_id"], errors) or ""
    vendor = text(item, COST_V1["vendor"], errors) or ""
    model = text(item, COST_V1["model"], errors) or ""
    category = choice(item, COST_V1["category"], errors)
    tokens = token_counts(item, errors, V1_TOKENS)
    amount, currency, priced = None, "USD", False
    if item.get("amount") is not None:
        amount = cost_amount_of(item, COST_V1["amount"], errors)
        currency = currency_code(item, COST_V1["currency"], errors)
    else:
        if item.get("currency") is not None:
            errors.add("amount", "A currency was given without an amount.")
        amount, priced = _priced(errors, vendor, model, tokens), True
    cost = CostInput(
        agent=None,
        amount=amount,
        currency=currency,
        category=category or (Cost.Category.LLM if (model or tokens) else Cost.Category.OTHER),
        external_customer_id=customer,
        vendor=vendor,
        model=model,
        priced_from_catalogue=priced,
        workflow_id=text(item, COST_V1["workflow_id"], errors),
        signal_idempotency_key=text(item, COST_V1["signal_idempotency_key"], errors),
        occurred_at=timestamp(item, COST_V1["occurred_at"], errors, now),
        idempotency_key=text(item, COST_V1["idempotency_key"], errors),
        metadata=data_object(item, COST_V1["metadata"], errors),
        **tokens,
    )
    if "agent_id" not in errors.errors:
        cost.agent = resolver.resolve(errors, external_id=agent_id)
    errors.check()
    return cost


# --- Paid-compatible v2 (camelCase) --------------------------------------------------------
def _v2_customer(item, errors: Collector) -> str | None:
    customer = item.get("customer")
    if not isinstance(customer, dict):
        errors.add("customer", 'Give {"externalCustomerId": ...} or {"customerId": ...}.')
        return None
    external, pk_field = CUSTOMER_V2["externalCustomerId"], CUSTOMER_V2["customerId"]
    if customer.get(external.name) is not None:
        return text(customer, external, errors, required=True)
    if customer.get(pk_field.name) is not None:
        from customers.models import Customer

        pk = str(customer[pk_field.name])
        found = Customer.objects.filter(pk=pk).first() if is_row_id(pk) else None
        if found is None:
            errors.add(
                "customer.customerId", f"No customer has id {pk!r}; send externalCustomerId."
            )
            return None
        return found.external_id
    errors.add("customer", "Give externalCustomerId or customerId.")
    return None


def _v2_agent(product, resolver: AgentResolver, errors: Collector, name: str):
    if product is None:
        return resolver.resolve(errors, field=name)
    if not isinstance(product, dict):
        errors.add(name, 'Give {"externalProductId": ...} or {"productId": ...}.')
        return None
    external, pk = PRODUCT_V2["externalProductId"].name, PRODUCT_V2["productId"].name
    if product.get(external) is not None:
        return resolver.resolve(errors, external_id=str(product[external]), field=name)
    if product.get(pk) is not None:
        return resolver.resolve(errors, pk=product[pk], field=name)
    return resolver.resolve(errors, field=name)


def _v2_text(values: Mapping, names: tuple[str, ...], errors: Collector, where: str):
    """An id Paid's SDK sends inside data or metadata (workflowId, idempotencyKey): a
    string or a number, at most MAX_TEXT characters; None when absent."""
    for name in names:
        value = values.get(name)
        if value is None or value == "" or isinstance(value, dict | list | bool):
            continue
        value = str(value)
        problem = text_problem(value)
        if len(value) > MAX_TEXT:
            problem = f"At most {MAX_TEXT} characters."
        if problem:
            errors.add(f"{where}.{name}", problem)
            return None
        return value
    return None


def signal_v2(item, resolver: AgentResolver, now: datetime) -> SignalInput:
    errors = Collector()
    if not isinstance(item, dict):
        raise IngestError({"non_field_errors": ["Each signal must be a JSON object."]})
    event_name = text(item, SIGNAL_V2["eventName"], errors)
    customer = _v2_customer(item, errors)
    occurred = timestamp(item, SIGNAL_V2["timestamp"], errors, now)
    key = text(item, SIGNAL_V2["idempotencyKey"], errors)
    data = data_object(item, SIGNAL_V2["data"], errors)
    workflow = _v2_text(data, ("workflowId", "workflow_id"), errors, "data")
    agent = _v2_agent(item.get("attribution"), resolver, errors, "attribution")
    errors.check()
    return SignalInput(
        agent=agent,
        event_name=event_name,
        external_customer_id=customer,
        occurred_at=occurred,
        idempotency_key=key,
        workflow_id=workflow,
        data=data,
    )


V2_TOKENS = {
    "input_tokens": USAGE_V2["inputTokens"],
    "output_tokens": USAGE_V2["outputTokens"],
    "cache_read_tokens": USAGE_V2["cacheReadInputTokens"],
    "cache_write_tokens": USAGE_V2["cacheCreationInputTokens"],
}


def _v2_usage(usage: Mapping, errors: Collector) -> dict[str, int]:
    tokens = token_counts(usage, errors, V2_TOKENS)
    # Paid counts inputTokens without cached ones; the catalogue wants all input.
    cached = tokens.get("cache_read_tokens", 0) + tokens.get("cache_write_tokens", 0)
    if cached:
        tokens["input_tokens"] = tokens.get("input_tokens", 0) + cached
    reasoning = usage.get(USAGE_V2["reasoningOutputTokens"].name)
    if (
        isinstance(reasoning, Number)
        and not isinstance(reasoning, bool)
        and math.isfinite(reasoning)
        and reasoning > 0
    ):
        tokens["output_tokens"] = tokens.get("output_tokens", 0) + int(reasoning)
    for ours, total in tokens.items():
        if total > MAX_COUNT:  # the sum of counts that each fit
            errors.add(f"usage.{ours}", f"The token total is over {MAX_COUNT:,}.")
    return tokens


def cost_v2(item, resolver: AgentResolver, now: datetime) -> CostInput:
    errors = Collector()
    if not isinstance(item, dict):
        raise IngestError({"non_field_errors": ["Each cost must be a JSON object."]})
    kind = choice(item, COST_V2["type"], errors)
    customer = _v2_customer(item, errors) or ""
    agent = _v2_agent(item.get("product"), resolver, errors, "product")
    vendor = text(item, COST_V2["vendor"], errors) or ""
    model = text(item, COST_V2["model"], errors) or ""
    metadata = data_object(item, COST_V2["metadata"], errors)
    tokens: dict[str, int] = {}
    amount, currency, priced = None, "USD", False
    if kind == "cost":
        amount = cost_amount_of(item, COST_V2["amount"], errors)
        currency = currency_code(item, COST_V2["currency"], errors)
    elif kind == "usage":
        usage = item.get("usage")
        if isinstance(usage, dict):
            tokens = _v2_usage(usage, errors)
        else:
            errors.add("usage", 'Give token counts, e.g. {"inputTokens": 1200}.')
        override = item.get("costOverride")
        if isinstance(override, dict):
            where = "costOverride."
            amount = cost_amount_of(override, COST_OVERRIDE_V2["amount"], errors, where)
            currency = currency_code(override, COST_OVERRIDE_V2["currency"], errors, where)
        elif vendor and model:
            amount, priced = _priced(errors, vendor, model, tokens), True
    key = text(item, COST_V2["idempotencyKey"], errors) or _v2_text(
        metadata, ("idempotencyKey",), errors, "metadata"
    )
    workflow = _v2_text(metadata, ("workflowId",), errors, "metadata")
    occurred = timestamp(item, COST_V2["timestamp"], errors, now)
    errors.check()
    return CostInput(
        agent=agent,
        amount=amount,
        currency=currency,
        category=Cost.Category.LLM if kind == "usage" or model else Cost.Category.OTHER,
        external_customer_id=customer,
        vendor=vendor,
        model=model,
        priced_from_catalogue=priced,
        occurred_at=occurred,
        idempotency_key=key,
        metadata=metadata,
        workflow_id=workflow,
        **tokens,
    )
