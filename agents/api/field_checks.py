"""Checking one declared field of a request item, with a message that says what to fix.

Each check reads the field's rules (name, alias, required, max length, minimum,
choices) from its declaration in request_fields.py, the same declaration the
OpenAPI schema is generated from. inputs.py combines them into whole items.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from agents.api.request_fields import Field
from agents.services import IngestError, cost_amount
from customers.currencies import currency_parse

FUTURE_TOLERANCE = timedelta(minutes=5)


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


def lookup(item: Mapping, field: Field) -> tuple[object, str]:
    """The value sent for a field and the name it came under (its alias if used)."""
    if field.alias and field.name not in item and field.alias in item:
        return item[field.alias], field.alias
    return item.get(field.name), field.name


def is_required(field: Field, item: Mapping) -> bool:
    if field.required_if is not None:
        other, value = field.required_if
        return field.required or item.get(other) == value
    return field.required


def text(item: Mapping, field: Field, errors: Collector, *, required=None) -> str | None:
    value, name = lookup(item, field)
    if value is None or value == "":
        if is_required(field, item) if required is None else required:
            errors.add(name, "This field is required.")
        return None
    if not isinstance(value, str):
        errors.add(name, f"Must be a string, got {type(value).__name__}.")
        return None
    if field.max_length is not None and len(value) > field.max_length:
        errors.add(name, f"At most {field.max_length} characters.")
        return None
    return value


def timestamp(item: Mapping, field: Field, errors: Collector, now: datetime) -> datetime | None:
    value, name = lookup(item, field)
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


def data_object(item: Mapping, field: Field, errors: Collector) -> dict:
    value, name = lookup(item, field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(name, f"Must be a JSON object, got {type(value).__name__}.")
        return {}
    return value


def choice(item: Mapping, field: Field, errors: Collector) -> str | None:
    value, name = lookup(item, field)
    if value is None and not is_required(field, item):
        return None
    if value not in field.values:
        errors.add(name, field.invalid or f"Must be one of {', '.join(field.values)}.")
        return None
    return value


def token_counts(values: Mapping, errors: Collector, fields: Mapping[str, Field]) -> dict[str, int]:
    """Token counts by our name, from the declared count fields (their name on the wire)."""
    counts = {}
    for ours, field in fields.items():
        value = values.get(field.name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < field.minimum:
            errors.add(field.name, f"Must be a whole number of tokens, {field.minimum} or more.")
            continue
        counts[ours] = value
    return counts


def currency_code(item: Mapping, field: Field, errors: Collector, where="") -> str | None:
    value, name = item.get(field.name), where + field.name
    if not isinstance(value, str) or not value:
        errors.add(name, "Give an ISO 4217 currency code such as USD.")
        return None
    try:
        return currency_parse(value)
    except ValueError as exc:
        errors.add(name, str(exc))
        return None


def cost_amount_of(item: Mapping, field: Field, errors: Collector, where="") -> Decimal | None:
    try:
        return cost_amount(item.get(field.name), where=where + field.name)
    except IngestError as exc:
        errors.merge(exc)
        return None
