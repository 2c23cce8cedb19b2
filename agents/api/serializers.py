"""Output serializers, and the ingestion request serializers of the OpenAPI schema.

The request serializers are generated from the declarations in request_fields.py,
which agents/api/inputs.py validates with (fast, per-item messages): one
declaration, so the schema says what the validator does.
"""

import functools
from dataclasses import replace

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.api import request_fields as rf
from agents.api.request_fields import MAX_BATCH, Field, Kind, Shape
from agents.models import Agent, Cost, Signal


class AgentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Agent
        fields = ("id", "external_id", "name", "description", "active", "created_at")


class SignalCostSerializer(serializers.ModelSerializer):
    class Meta:
        model = Cost
        fields = ("id", "source_key", "category", "amount", "currency")


class SignalSerializer(serializers.ModelSerializer):
    agent_id = serializers.CharField(source="agent.external_id")
    customer_id = serializers.CharField(source="external_customer_id")
    attributed = serializers.BooleanField()
    costs = SignalCostSerializer(many=True)

    class Meta:
        model = Signal
        fields = (
            "id",
            "agent_id",
            "customer_id",
            "attributed",
            "event_name",
            "occurred_at",
            "received_at",
            "idempotency_key",
            "workflow_id",
            "data",
            "costs",
        )


class CostSerializer(serializers.ModelSerializer):
    agent_id = serializers.CharField(source="agent.external_id")
    customer_id = serializers.CharField(source="external_customer_id")
    attributed = serializers.SerializerMethodField()

    class Meta:
        model = Cost
        fields = (
            "id",
            "agent_id",
            "customer_id",
            "attributed",
            "signal",
            "source_key",
            "workflow_id",
            "category",
            "amount",
            "currency",
            "vendor",
            "model",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "priced_from_catalogue",
            "occurred_at",
            "received_at",
            "idempotency_key",
            "metadata",
            "trace_id",
            "span_id",
            "scope_id",
            "span_name",
        )

    def get_attributed(self, obj) -> bool:
        return obj.customer_id is not None


# --- Request serializers, generated from request_fields.py ---------------------------------
# They describe the requests in OpenAPI; inputs.py validates with the same declarations.
@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}]})
class IdField(serializers.Field):
    """An id sent as a string or an integer; inputs.py looks it up as given."""

    def to_internal_value(self, data):
        return data


@functools.cache
def request_serializer(shape: Shape) -> type[serializers.Serializer]:
    """A serializer class for a declared shape; its OpenAPI component is `shape.name`."""
    attrs = {}
    for field in shape.fields:
        attrs[field.name] = _schema_field(field)
        if field.alias:
            alias = replace(field, name=field.alias, alias=None, help=f"Alias of `{field.name}`.")
            attrs[alias.name] = _schema_field(alias)
    return type(f"{shape.name}Serializer", (serializers.Serializer,), attrs)


def _describe(field: Field) -> str | None:
    parts = [field.help] if field.help else []
    if field.required_if:
        parts.append(f'Required when `{field.required_if[0]}` is "{field.required_if[1]}".')
    return " ".join(parts) or None


def _schema_field(field: Field) -> serializers.Field:
    # The validator treats null as absent, so only required fields refuse it.
    common = {
        "required": field.required,
        "allow_null": not field.required,
        "help_text": _describe(field),
    }
    match field.kind:
        case Kind.TEXT:
            return serializers.CharField(
                max_length=field.max_length,
                min_length=1 if field.required else None,
                allow_blank=not field.required,
                **common,
            )
        case Kind.ID:
            return IdField(**common)
        case Kind.CURRENCY:
            return serializers.CharField(**common)
        case Kind.TIMESTAMP:
            return serializers.DateTimeField(**common)
        case Kind.OBJECT:
            return serializers.DictField(**common)
        case Kind.COUNT:
            return serializers.IntegerField(
                min_value=field.minimum, max_value=field.maximum, **common
            )
        case Kind.LENIENT_NUMBER:  # any JSON number (never a float in our code)
            return serializers.DecimalField(
                max_digits=None, decimal_places=None, coerce_to_string=False, **common
            )
        case Kind.AMOUNT:
            # services.cost_amount: a number or a decimal string, 0 or more, below 10^12.
            return serializers.DecimalField(
                max_digits=20, decimal_places=8, min_value=0, coerce_to_string=False, **common
            )
        case Kind.CHOICE:
            return serializers.ChoiceField(choices=field.choices, **common)
        case Kind.NESTED:
            return request_serializer(field.shape)(**common)
        case Kind.LIST:
            return serializers.ListField(
                child=request_serializer(field.shape)(),
                min_length=1,
                max_length=MAX_BATCH,
                **common,
            )
    raise ValueError(f"No schema for {field.kind}")


SignalInSerializer = request_serializer(rf.SIGNAL_V1)
BulkSignalsInSerializer = request_serializer(rf.SIGNALS_V1)
CostInSerializer = request_serializer(rf.COST_V1)
BulkCostsInSerializer = request_serializer(rf.COSTS_V1)
V2SignalSerializer = request_serializer(rf.SIGNAL_V2)
V2BulkSignalsSerializer = request_serializer(rf.SIGNALS_V2)
V2CostSerializer = request_serializer(rf.COST_V2)
V2BulkCostsSerializer = request_serializer(rf.COSTS_V2)


# --- Responses ---------------------------------------------------------------------------
class ItemErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BulkResultSerializer(serializers.Serializer):
    ingested = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    failed = serializers.IntegerField()
    errors = ItemErrorSerializer(many=True)


class ErrorsSerializer(serializers.Serializer):
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class V2SignalsResultSerializer(serializers.Serializer):
    ingested = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    failed = serializers.IntegerField()


class V2CostsResultSerializer(serializers.Serializer):
    ingested = serializers.IntegerField()
    duplicates = serializers.IntegerField()
