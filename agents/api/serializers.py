"""Output serializers, and request serializers that describe the ingestion API in OpenAPI.

Requests are validated by agents/api/inputs.py (fast, per-item messages); the
request serializers here mirror its rules for the schema.
"""

from rest_framework import serializers

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
        )

    def get_attributed(self, obj) -> bool:
        return obj.customer_id is not None


# --- request shapes (documentation) -------------------------------------------------------
class SignalInSerializer(serializers.Serializer):
    event_name = serializers.CharField(max_length=200)
    customer_id = serializers.CharField(
        max_length=200, help_text="The customer's external id; unknown ids are kept unattributed."
    )
    agent_id = serializers.CharField(
        max_length=200, required=False, help_text="Optional when the key belongs to one agent."
    )
    occurred_at = serializers.DateTimeField(
        required=False,
        help_text="RFC 3339 with a time zone; `timestamp` is an alias; default: now. At most 5 "
        "minutes in the future.",
    )
    idempotency_key = serializers.CharField(max_length=200, required=False)
    workflow_id = serializers.CharField(max_length=200, required=False)
    data = serializers.DictField(
        required=False,
        help_text="Free-form object. Every numeric `<category>_cost` key becomes a cost "
        "(llm_cost, infrastructure_cost, tool_cost, human_cost; others: other) in "
        "`data.currency` (default USD).",
    )


class BulkSignalsInSerializer(serializers.Serializer):
    signals = SignalInSerializer(many=True, help_text="At most 1,000.")


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


class CostInSerializer(serializers.Serializer):
    agent_id = serializers.CharField(required=False)
    customer_id = serializers.CharField(required=False)
    amount = serializers.DecimalField(
        max_digits=20, decimal_places=8, required=False, help_text="With currency; 0 or more."
    )
    currency = serializers.CharField(required=False, help_text="ISO 4217, with amount.")
    category = serializers.ChoiceField(choices=Cost.Category.choices, required=False)
    vendor = serializers.CharField(required=False, help_text="e.g. openai, anthropic.")
    model = serializers.CharField(required=False, help_text="e.g. gpt-4o.")
    input_tokens = serializers.IntegerField(
        required=False, min_value=0, help_text="All input tokens, cached ones included."
    )
    output_tokens = serializers.IntegerField(required=False, min_value=0)
    cache_read_tokens = serializers.IntegerField(required=False, min_value=0)
    cache_write_tokens = serializers.IntegerField(required=False, min_value=0)
    workflow_id = serializers.CharField(required=False)
    signal_idempotency_key = serializers.CharField(
        required=False, help_text="Links the cost to that signal of the same agent."
    )
    occurred_at = serializers.DateTimeField(required=False)
    idempotency_key = serializers.CharField(required=False)
    metadata = serializers.DictField(required=False)


class BulkCostsInSerializer(serializers.Serializer):
    costs = CostInSerializer(many=True, help_text="At most 1,000.")


# --- Paid-compatible v2 -----------------------------------------------------------------
class V2CustomerSerializer(serializers.Serializer):
    externalCustomerId = serializers.CharField(required=False)
    customerId = serializers.CharField(required=False)


class V2ProductSerializer(serializers.Serializer):
    externalProductId = serializers.CharField(required=False, help_text="An agent's external id.")
    productId = serializers.CharField(required=False, help_text="An agent's id.")


class V2SignalSerializer(serializers.Serializer):
    eventName = serializers.CharField()
    customer = V2CustomerSerializer()
    attribution = V2ProductSerializer(required=False)
    timestamp = serializers.DateTimeField(required=False)
    data = serializers.DictField(required=False)
    idempotencyKey = serializers.CharField(required=False)


class V2BulkSignalsSerializer(serializers.Serializer):
    signals = V2SignalSerializer(many=True)


class V2UsageSerializer(serializers.Serializer):
    inputTokens = serializers.IntegerField(required=False)
    outputTokens = serializers.IntegerField(required=False)
    cacheReadInputTokens = serializers.IntegerField(required=False)
    cacheCreationInputTokens = serializers.IntegerField(required=False)
    reasoningOutputTokens = serializers.IntegerField(required=False)


class V2CostSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["cost", "usage"])
    customer = V2CustomerSerializer()
    product = V2ProductSerializer(required=False)
    timestamp = serializers.DateTimeField(required=False)
    metadata = serializers.DictField(required=False)
    amount = serializers.DecimalField(
        max_digits=20,
        decimal_places=8,
        coerce_to_string=False,
        required=False,
        help_text='type "cost"',
    )
    currency = serializers.CharField(required=False, help_text='type "cost"')
    vendor = serializers.CharField(required=False)
    model = serializers.CharField(required=False)
    usage = V2UsageSerializer(required=False, help_text='type "usage"')
    idempotencyKey = serializers.CharField(required=False)


class V2BulkCostsSerializer(serializers.Serializer):
    costs = V2CostSerializer(many=True)


class V2SignalsResultSerializer(serializers.Serializer):
    ingested = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    failed = serializers.IntegerField()


class V2CostsResultSerializer(serializers.Serializer):
    ingested = serializers.IntegerField()
    duplicates = serializers.IntegerField()
