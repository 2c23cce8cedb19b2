"""Turning request items into SignalInput / CostInput, with a message per bad field.

Plain Python rather than one DRF serializer per item: a batch of 1,000 signals is
validated in a few milliseconds. The OpenAPI schema is described by the
serializers in serializers.py, which mirror these rules.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from numbers import Number

from agents.models import Agent, AgentAPIKey, Cost
from agents.services import (
    CostInput,
    IngestError,
    SignalInput,
    cost_amount,
    cost_price_from_catalogue,
)
from customers.currencies import validate_currency_code

MAX_BATCH = 1000
MAX_TEXT = 200
FUTURE_TOLERANCE = timedelta(minutes=5)
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


class Collector:
    """Collects every problem of one item, so the agent sees them all at once."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def merge(self, exc: IngestError) -> None:
        for name, messages in exc.errors.items():
            for message in messages:
                self.add(name, message)

    def check(self) -> None:
        if self.errors:
            raise IngestError(self.errors)


def text(item: Mapping, name: str, errors: Collector, *, required=False, alias=None) -> str | None:
    value = item.get(name)
    if value is None and alias:
        value, name = item.get(alias), alias if alias in item else name
    if value is None or value == "":
        if required:
            errors.add(name, "This field is required.")
        return None
    if not isinstance(value, str):
        errors.add(name, f"Must be a string, got {type(value).__name__}.")
        return None
    if len(value) > MAX_TEXT:
        errors.add(name, f"At most {MAX_TEXT} characters.")
        return None
    return value


def timestamp(value, name: str, errors: Collector, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(name, "Must be an RFC 3339 timestamp such as 2026-01-31T23:00:00Z.")
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        errors.add(name, f"{value!r} is not an RFC 3339 timestamp (e.g. 2026-01-31T23:00:00Z).")
        return None
    if parsed.tzinfo is None:
        errors.add(name, "Include a time zone, e.g. 2026-01-31T23:00:00Z or +02:00.")
        return None
    if parsed > now + FUTURE_TOLERANCE:
        errors.add(name, "Is more than 5 minutes in the future; check the agent's clock.")
        return None
    return parsed


def data_object(value, name: str, errors: Collector) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(name, f"Must be a JSON object, got {type(value).__name__}.")
        return {}
    return value


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
            if lookup[0] == "pk" and not lookup[1].isdigit():
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
    event_name = text(item, "event_name", errors, required=True)
    customer = text(item, "customer_id", errors, required=True)
    agent_id = text(item, "agent_id", errors)
    occurred_raw = item.get("occurred_at", item.get("timestamp"))
    occurred_name = "occurred_at" if "occurred_at" in item else "timestamp"
    occurred = timestamp(occurred_raw, occurred_name, errors, now)
    key = text(item, "idempotency_key", errors)
    workflow = text(item, "workflow_id", errors)
    data = data_object(item.get("data"), "data", errors)
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


def _tokens(values: Mapping, errors: Collector, names: Mapping[str, str]) -> dict[str, int]:
    tokens = {}
    for ours, theirs in names.items():
        value = values.get(theirs)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            errors.add(theirs, "Must be a whole number of tokens, 0 or more.")
            continue
        tokens[ours] = value
    return tokens


def _currency(value, name: str, errors: Collector) -> str | None:
    if not isinstance(value, str) or not value:
        errors.add(name, "Give an ISO 4217 currency code such as USD.")
        return None
    try:
        validate_currency_code(value.upper())
    except Exception:
        errors.add(name, f"{value!r} is not an ISO 4217 currency code (e.g. USD).")
        return None
    return value.upper()


def _amount(value, name: str, errors: Collector) -> Decimal | None:
    try:
        return cost_amount(value, where=name)
    except IngestError as exc:
        errors.merge(exc)
        return None


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


def cost_v1(item, resolver: AgentResolver, now: datetime) -> CostInput:
    errors = Collector()
    if not isinstance(item, dict):
        raise IngestError({"non_field_errors": ["Each cost must be a JSON object."]})
    agent_id = text(item, "agent_id", errors)
    customer = text(item, "customer_id", errors) or ""
    vendor = text(item, "vendor", errors) or ""
    model = text(item, "model", errors) or ""
    category = item.get("category")
    if category is not None and category not in Cost.Category.values:
        errors.add("category", f"Must be one of {', '.join(Cost.Category.values)}.")
    tokens = _tokens(item, errors, {name: name for name in TOKEN_FIELDS})
    amount, currency, priced = None, "USD", False
    if item.get("amount") is not None:
        amount = _amount(item["amount"], "amount", errors)
        currency = _currency(item.get("currency"), "currency", errors)
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
        workflow_id=text(item, "workflow_id", errors),
        signal_idempotency_key=text(item, "signal_idempotency_key", errors),
        occurred_at=timestamp(item.get("occurred_at"), "occurred_at", errors, now),
        idempotency_key=text(item, "idempotency_key", errors),
        metadata=data_object(item.get("metadata"), "metadata", errors),
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
    if customer.get("externalCustomerId") is not None:
        return text(customer, "externalCustomerId", errors, required=True)
    if customer.get("customerId") is not None:
        from customers.models import Customer

        pk = str(customer["customerId"])
        found = Customer.objects.filter(pk=pk).first() if pk.isdigit() else None
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
    if product.get("externalProductId") is not None:
        return resolver.resolve(errors, external_id=str(product["externalProductId"]), field=name)
    if product.get("productId") is not None:
        return resolver.resolve(errors, pk=product["productId"], field=name)
    return resolver.resolve(errors, field=name)


def signal_v2(item, resolver: AgentResolver, now: datetime) -> SignalInput:
    errors = Collector()
    if not isinstance(item, dict):
        raise IngestError({"non_field_errors": ["Each signal must be a JSON object."]})
    event_name = text(item, "eventName", errors, required=True)
    customer = _v2_customer(item, errors)
    occurred = timestamp(item.get("timestamp"), "timestamp", errors, now)
    key = text(item, "idempotencyKey", errors)
    data = data_object(item.get("data"), "data", errors)
    workflow = data.get("workflowId") or data.get("workflow_id")
    agent = _v2_agent(item.get("attribution"), resolver, errors, "attribution")
    errors.check()
    return SignalInput(
        agent=agent,
        event_name=event_name,
        external_customer_id=customer,
        occurred_at=occurred,
        idempotency_key=key,
        workflow_id=str(workflow)[:MAX_TEXT] if workflow else None,
        data=data,
    )


def cost_v2(item, resolver: AgentResolver, now: datetime) -> CostInput:
    errors = Collector()
    if not isinstance(item, dict):
        raise IngestError({"non_field_errors": ["Each cost must be a JSON object."]})
    kind = item.get("type")
    if kind not in ("cost", "usage"):
        errors.add("type", 'Must be "cost" (amount + currency) or "usage" (vendor, model, usage).')
    customer = _v2_customer(item, errors) or ""
    agent = _v2_agent(item.get("product"), resolver, errors, "product")
    vendor = text(item, "vendor", errors, required=kind == "usage") or ""
    model = text(item, "model", errors, required=kind == "usage") or ""
    metadata = data_object(item.get("metadata"), "metadata", errors)
    tokens: dict[str, int] = {}
    amount, currency, priced = None, "USD", False
    if kind == "cost":
        amount = _amount(item.get("amount"), "amount", errors)
        currency = _currency(item.get("currency"), "currency", errors)
    elif kind == "usage":
        usage = item.get("usage")
        if not isinstance(usage, dict):
            errors.add("usage", 'Give token counts, e.g. {"inputTokens": 1200}.')
        else:
            tokens = _tokens(
                usage,
                errors,
                {
                    "input_tokens": "inputTokens",
                    "output_tokens": "outputTokens",
                    "cache_read_tokens": "cacheReadInputTokens",
                    "cache_write_tokens": "cacheCreationInputTokens",
                },
            )
            # Paid counts inputTokens without cached ones; the catalogue wants all input.
            cached = tokens.get("cache_read_tokens", 0) + tokens.get("cache_write_tokens", 0)
            if cached:
                tokens["input_tokens"] = tokens.get("input_tokens", 0) + cached
            reasoning = usage.get("reasoningOutputTokens")
            if isinstance(reasoning, Number) and not isinstance(reasoning, bool) and reasoning > 0:
                tokens["output_tokens"] = tokens.get("output_tokens", 0) + int(reasoning)
        override = item.get("costOverride")
        if isinstance(override, dict):
            amount = _amount(override.get("amount"), "costOverride.amount", errors)
            currency = _currency(override.get("currency"), "costOverride.currency", errors)
        elif vendor and model:
            amount, priced = _priced(errors, vendor, model, tokens), True
    key = text(item, "idempotencyKey", errors) or (
        metadata.get("idempotencyKey") if isinstance(metadata.get("idempotencyKey"), str) else None
    )
    occurred = timestamp(item.get("timestamp"), "timestamp", errors, now)
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
        workflow_id=metadata.get("workflowId")
        if isinstance(metadata.get("workflowId"), str)
        else None,
        **tokens,
    )
