"""Checking one declared field of a request item, with a message that says what to fix.

Each check reads the field's rules (name, alias, required, max length, minimum,
choices) from its declaration in request_fields.py, the same declaration the
OpenAPI schema is generated from. inputs.py combines them into whole items.
"""

import functools
import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings

from agents.api.request_fields import Field, Shape
from agents.services import IngestError, cost_amount
from customers.currencies import currency_parse

FUTURE_TOLERANCE = timedelta(minutes=5)
# PostgreSQL's time zones stop at ±15:59; Python's go to ±23:59.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
# Free-form data: deeper nesting than this is refused (and never reaches a recursion).
MAX_DEPTH = 32
# Control characters, format characters (zero-width, bidirectional marks), line and
# paragraph separators: invisible or layout-changing, never part of a name or an id.
INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}
ASCII_CONTROL = re.compile("[\x00-\x1f\x7f]")


def text_problem(value: str) -> str | None:
    """What makes a string unfit for a name or an id, or None. An id that looks like
    another (a zero-width space, a bidirectional mark) would stay unattributed.
    ASCII, nearly every value, is checked by one regular expression (measured: a
    character loop tripled the validation time of a batch)."""
    if not value.strip():
        return "Must not be blank."
    if value.isascii():
        control = ASCII_CONTROL.search(value)
        if control is None:
            return None
        if control.group() == "\x00":
            return "Must not contain NUL characters."
        return "Must not contain control characters such as newlines or tabs."
    if "\x00" in value:
        return "Must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Contains an invalid character (a lone UTF-16 surrogate)."
    if any(unicodedata.category(c) in INVISIBLE for c in value):
        return "Must not contain control or invisible characters (zero-width, bidirectional)."
    return None


def _string_problem(value: str) -> str | None:
    if "\x00" in value:
        return "Contains a NUL character."
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Contains an invalid character (a lone UTF-16 surrogate)."
    return None


def data_problem(value, depth: int = 1) -> str | None:
    """What the database would refuse in free-form JSON, or None: NUL characters and lone
    surrogates in keys and strings, numbers that are not finite, deep nesting. Scalars
    are checked in the loop, not by a call each (a batch's data is mostly scalars)."""
    if depth > MAX_DEPTH:
        return f"Is nested more than {MAX_DEPTH} levels deep."
    pairs = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in pairs:
        if isinstance(key, str):
            problem = _string_problem(key)
            if problem:
                return f"A key {problem[0].lower()}{problem[1:]}"
        if isinstance(item, str):
            problem = _string_problem(item)
        elif isinstance(item, float):
            problem = None if math.isfinite(item) else "Numbers must be finite (not 1e999)."
        elif isinstance(item, dict | list):
            nested = data_problem(item, depth + 1)
            if nested:  # named by the innermost key only, not by every level
                return nested
            continue
        else:
            continue
        if problem:
            return f"{key!r}: {problem}"
    return None


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


def unknown_fields(item: Mapping, shape: Shape, errors: Collector, *, put_under: str) -> None:
    """Fields the shape does not declare are refused, not dropped: a typo or a payload
    field sent at the top level would otherwise vanish."""
    for name in item:
        if name not in shape.names:
            errors.add(str(name), f"Unknown field; send payload fields inside `{put_under}`.")


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
    problem = text_problem(value)
    if problem:
        errors.add(name, problem)
        return None
    return value


def earliest_accepted() -> datetime:
    return _midnight_utc(settings.SIGNALS_EARLIEST_DATE)


@functools.cache
def _midnight_utc(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


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
    if abs(parsed.utcoffset()) > MAX_UTC_OFFSET:
        errors.add(name, "The UTC offset must be within ±15:59.")
        return None
    earliest = earliest_accepted()
    # Compared by year first: a naive year-1 time with an offset is out of Python's range.
    if parsed.year < earliest.year or parsed < earliest:
        errors.add(
            name, f"Is before {earliest:%Y-%m-%d}, the earliest accepted (SIGNALS_EARLIEST_DATE)."
        )
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
    problem = data_problem(value)
    if problem:
        errors.add(name, problem)
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
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not field.minimum <= value <= field.maximum
        ):
            errors.add(
                field.name,
                f"Must be a whole number of tokens, {field.minimum} to {field.maximum:,}.",
            )
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
