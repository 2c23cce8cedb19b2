"""The ingestion API's request fields, declared once.

inputs.py reads its per-field rules (type, required, alias, max length, minimum)
from these declarations, and serializers.py generates from them the request
serializers that describe the API in OpenAPI: the schema says what the validator
does. Rules that span fields (amount or usage, v2 `type`) stay in inputs.py; the
declarations carry them as `required_if` and descriptions.

Why declarations read by plain Python, and not one DRF serializer for both jobs
(option (a) of the issue): `python tests/benchmarks/validation.py`, 1,000 valid
items, median ms, v1 signals / v1 costs / v2 signals / v2 costs:
  hand validator before this change     1.7 /  8.9 / 1.7 /  4.1
  inputs.py reading these declarations  2.3 /  6.2 / 2.3 /  5.3
  DRF Serializer(many=True).is_valid()  26.2 / 62.2 / 29.2 / 48.0  (22-42 when idle)
DRF is 9-13x slower before it does any of the checks it lacks (agent resolution,
ISO currencies, our per-field messages, strings that are not coerced from numbers).
"""

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from agents.models import Cost

MAX_BATCH = 1000
MAX_TEXT = 200


class Kind(StrEnum):
    TEXT = "text"  # a string; "" and null count as absent
    ID = "id"  # a string or an integer, looked up as given
    TIMESTAMP = "timestamp"  # RFC 3339 with a time zone, at most 5 minutes ahead
    OBJECT = "object"  # a free-form JSON object
    COUNT = "count"  # a whole number (not a boolean), at least `minimum`
    LENIENT_NUMBER = "lenient_number"  # used when it is a number above 0, else ignored
    AMOUNT = "amount"  # a number or a decimal string, 0 or more, below 10^12 (cost_amount)
    CURRENCY = "currency"  # an ISO 4217 code, any case
    CHOICE = "choice"  # one of `choices`
    NESTED = "nested"  # an object of `shape`
    LIST = "list"  # 1 to MAX_BATCH objects of `shape`


@dataclass(frozen=True)
class Field:
    name: str  # as sent on the wire, and as errors name it
    kind: Kind
    required: bool = False
    required_if: tuple[str, str] | None = None  # (other field, value) that makes it required
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    alias: str | None = None  # another accepted name; errors then name the alias
    choices: tuple[tuple[str, str], ...] = ()  # (value, label), as Django's choices
    invalid: str = ""  # the message for a CHOICE outside `choices`, when not the default
    help: str = ""
    shape: "Shape | None" = None  # for NESTED and LIST

    @cached_property
    def values(self) -> tuple[str, ...]:
        return tuple(value for value, _ in self.choices)


@dataclass(frozen=True)
class Shape:
    name: str  # the OpenAPI component
    fields: tuple[Field, ...]

    def __post_init__(self):
        # A dict, as inputs.py looks fields up for every item of a batch.
        object.__setattr__(self, "_by_name", {field.name: field for field in self.fields})
        names = {field.name for field in self.fields} | {f.alias for f in self.fields if f.alias}
        object.__setattr__(self, "names", frozenset(names))

    def __getitem__(self, name: str) -> Field:
        return self._by_name[name]


def text(name: str, *, required=False, max_length=MAX_TEXT, **kwargs) -> Field:
    return Field(name, Kind.TEXT, required=required, max_length=max_length, **kwargs)


# Cost.vendor is a narrower column: longer vendors were refused by PostgreSQL with a 503.
VENDOR_LENGTH = Cost._meta.get_field("vendor").max_length


# Token counts are stored as 64-bit integers.
MAX_COUNT = 2**63 - 1


def count(name: str, **kwargs) -> Field:
    return Field(name, Kind.COUNT, minimum=0, maximum=MAX_COUNT, **kwargs)


def batch(name: str, key: str, item: Shape) -> Shape:
    return Shape(name, (Field(key, Kind.LIST, required=True, shape=item),))


# --- Native v1 ---------------------------------------------------------------------------
SIGNAL_V1 = Shape(
    "SignalIn",
    (
        text("event_name", required=True),
        text(
            "customer_id",
            required=True,
            help="The customer's external id; unknown ids are kept unattributed.",
        ),
        text("agent_id", help="An agent's external id; optional when the key belongs to one."),
        Field(
            "occurred_at",
            Kind.TIMESTAMP,
            alias="timestamp",
            help="RFC 3339 with a time zone; default: now. At most 5 minutes in the future.",
        ),
        text("idempotency_key", help="A replay of a key already stored returns the original."),
        text("workflow_id"),
        Field(
            "data",
            Kind.OBJECT,
            help="Free-form object. Every numeric `<category>_cost` key becomes a cost "
            "(llm_cost, infrastructure_cost, tool_cost, human_cost; others: other) in "
            "`data.currency` (default USD).",
        ),
    ),
)

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")

COST_V1 = Shape(
    "CostIn",
    (
        text("agent_id", help="An agent's external id; optional when the key belongs to one."),
        text("customer_id"),
        text("vendor", max_length=VENDOR_LENGTH, help="e.g. openai, anthropic."),
        text("model", help="e.g. gpt-4o. Needed to price token usage when no amount is given."),
        Field("category", Kind.CHOICE, choices=tuple(Cost.Category.choices)),
        count("input_tokens", help="All input tokens, cached ones included."),
        count("output_tokens"),
        count("cache_read_tokens"),
        count("cache_write_tokens"),
        Field(
            "amount",
            Kind.AMOUNT,
            help="With currency. Without it, the cost is priced from the catalogue "
            "(vendor, model and token counts).",
        ),
        Field("currency", Kind.CURRENCY, help="ISO 4217 code such as USD; with amount."),
        text("workflow_id"),
        text("signal_idempotency_key", help="Links the cost to that signal of the same agent."),
        Field("occurred_at", Kind.TIMESTAMP, help="RFC 3339 with a time zone; default: now."),
        text("idempotency_key"),
        Field("metadata", Kind.OBJECT),
    ),
)

SIGNALS_V1 = batch("BulkSignalsIn", "signals", SIGNAL_V1)
COSTS_V1 = batch("BulkCostsIn", "costs", COST_V1)

# --- Paid-compatible v2 (camelCase) --------------------------------------------------------
CUSTOMER_V2 = Shape(
    "V2Customer",
    (
        text("externalCustomerId"),
        Field("customerId", Kind.ID, help="A customer's id; externalCustomerId is preferred."),
    ),
)

PRODUCT_V2 = Shape(
    "V2Product",
    (
        Field("externalProductId", Kind.ID, help="An agent's external id."),
        Field("productId", Kind.ID, help="An agent's id."),
    ),
)

SIGNAL_V2 = Shape(
    "V2Signal",
    (
        text("eventName", required=True),
        Field(
            "customer",
            Kind.NESTED,
            required=True,
            shape=CUSTOMER_V2,
            help="Give externalCustomerId or customerId.",
        ),
        Field(
            "attribution",
            Kind.NESTED,
            shape=PRODUCT_V2,
            help="The agent; optional when the key belongs to one.",
        ),
        Field("timestamp", Kind.TIMESTAMP, help="RFC 3339 with a time zone; default: now."),
        text("idempotencyKey"),
        Field("data", Kind.OBJECT, help="Free-form object; `workflowId` links a workflow."),
    ),
)

USAGE_V2 = Shape(
    "V2Usage",
    (
        count("inputTokens", help="Input tokens without the cached ones, as Paid counts."),
        count("outputTokens"),
        count("cacheReadInputTokens"),
        count("cacheCreationInputTokens"),
        Field(
            "reasoningOutputTokens",
            Kind.LENIENT_NUMBER,
            help="Added to outputTokens when above 0; other values are ignored.",
        ),
    ),
)

COST_OVERRIDE_V2 = Shape(
    "V2CostOverride",
    (
        Field("amount", Kind.AMOUNT, required=True),
        Field("currency", Kind.CURRENCY, required=True, help="ISO 4217 code such as USD."),
    ),
)

COST_V2 = Shape(
    "V2Cost",
    (
        Field(
            "type",
            Kind.CHOICE,
            required=True,
            choices=(("cost", "cost"), ("usage", "usage")),
            invalid='Must be "cost" (amount + currency) or "usage" (vendor, model, usage).',
            help='"cost": amount and currency; "usage": vendor, model and usage.',
        ),
        Field(
            "customer",
            Kind.NESTED,
            required=True,
            shape=CUSTOMER_V2,
            help="Give externalCustomerId or customerId.",
        ),
        Field(
            "product",
            Kind.NESTED,
            shape=PRODUCT_V2,
            help="The agent; optional when the key belongs to one.",
        ),
        text("vendor", max_length=VENDOR_LENGTH, required_if=("type", "usage")),
        text("model", required_if=("type", "usage")),
        Field("metadata", Kind.OBJECT, help="`idempotencyKey` and `workflowId` are read here."),
        Field("amount", Kind.AMOUNT, required_if=("type", "cost")),
        Field(
            "currency",
            Kind.CURRENCY,
            required_if=("type", "cost"),
            help="ISO 4217 code such as USD.",
        ),
        Field(
            "usage",
            Kind.NESTED,
            shape=USAGE_V2,
            required_if=("type", "usage"),
            help="Priced from the catalogue unless costOverride is given.",
        ),
        Field(
            "costOverride",
            Kind.NESTED,
            shape=COST_OVERRIDE_V2,
            help='type "usage": record this amount instead of the catalogue price.',
        ),
        text("idempotencyKey", help="Default: metadata.idempotencyKey."),
        Field("timestamp", Kind.TIMESTAMP, help="RFC 3339 with a time zone; default: now."),
    ),
)

SIGNALS_V2 = batch("V2BulkSignals", "signals", SIGNAL_V2)
COSTS_V2 = batch("V2BulkCosts", "costs", COST_V2)

REQUESTS = (SIGNAL_V1, SIGNALS_V1, COSTS_V1, SIGNALS_V2, COSTS_V2)
