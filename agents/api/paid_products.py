"""Paid's v2 products are our agents: /api/v2/products/, by id and by external id.

Paid -> ours: name, description, active, externalId -> external_id (the `agent_id`
signals name the agent by: letters, digits, - and _). Refused (422) when sent with a
value: productCode and metadata (an agent keeps neither) and productAttributes (prices
belong to a customer's order, our price agreement, not to a product).
"""

import django_filters
from django.core.validators import validate_slug
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.mixins import ListModelMixin
from rest_framework.response import Response

from agents.api.field_checks import Collector
from agents.api.paid_fields import (
    Flag,
    FlagFilter,
    Metadata,
    StrictSerializer,
    Text,
    optional,
    validated,
)
from agents.api.paid_v2 import CatalogueView, by_id_and_external_id, refuse
from agents.catalogue import agent_create, agent_update
from agents.models import Agent

EXTERNAL_ID_LENGTH = Agent._meta.get_field("external_id").max_length


class ProductIn(StrictSerializer):
    """Create (POST) and update (PUT: only the fields sent change)."""

    name = Text(max_length=200)
    description = optional(Text, single_line=False, max_length=10_000)
    active = Flag(required=False)
    productCode = optional(Text, max_length=200, help_text="Not kept here: 422 when set.")
    externalId = Text(
        max_length=EXTERNAL_ID_LENGTH,
        validators=[validate_slug],
        help_text="The agent_id its signals and costs name it by: letters, digits, - and _. "
        "Required to create.",
        error_messages={
            "required": "Required here: agents name themselves by it (agent_id) in signals.",
        },
    )
    metadata = optional(Metadata, help_text="Not kept here: 422 unless empty.")
    productAttributes = optional(
        serializers.ListField,
        child=serializers.DictField(),
        max_length=1000,
        help_text="Prices belong to orders here: 422 unless empty.",
    )


def product_values(data: dict) -> dict:
    """A validated ProductIn as Agent fields; 422 for what an agent cannot keep."""
    refused = Collector()
    if data.get("productCode"):
        refused.add("productCode", "Agents here have no product code; leave it out.")
    if data.get("metadata"):
        refused.add("metadata", "Agents here keep no metadata; leave it out or send {}.")
    if data.get("productAttributes"):
        refused.add(
            "productAttributes",
            "Prices here belong to a customer's order (a price agreement), not to a "
            "product: create an order with lines for this product instead.",
        )
    refuse(refused.errors)
    values = {}
    for wire, ours in (("name", "name"), ("externalId", "external_id"), ("active", "active")):
        if wire in data:
            values[ours] = data[wire]
    if "description" in data:
        values["description"] = data["description"] or ""
    return values


class ProductOut(serializers.Serializer):
    id = serializers.CharField(source="pk")
    name = serializers.CharField()
    description = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    active = serializers.BooleanField()
    productCode = serializers.SerializerMethodField()
    externalId = serializers.CharField(source="external_id")
    archivedAt = serializers.SerializerMethodField()
    metadata = serializers.SerializerMethodField()

    def get_description(self, agent: Agent) -> str | None:
        return agent.description or None

    @extend_schema_field({"type": "string", "nullable": True, "description": "Always null."})
    def get_productCode(self, agent: Agent) -> None:
        return None

    @extend_schema_field(
        {"type": "string", "format": "date-time", "nullable": True, "description": "Always null."}
    )
    def get_archivedAt(self, agent: Agent) -> None:
        return None

    @extend_schema_field({"type": "object", "nullable": True, "description": "Always null."})
    def get_metadata(self, agent: Agent) -> None:
        return None


class ProductDetailOut(ProductOut):
    productAttributes = serializers.SerializerMethodField()

    @extend_schema_field(
        {
            "type": "array",
            "items": {"type": "object"},
            "maxItems": 0,
            "description": "Always empty: prices belong to orders.",
        }
    )
    def get_productAttributes(self, agent: Agent) -> list:
        return []


class ProductFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name.")
    active = FlagFilter(field_name="active")
    archived = FlagFilter(
        method="by_archived", help_text="Agents are never archived: true finds none."
    )

    class Meta:
        model = Agent
        fields = []

    def by_archived(self, queryset, name, value):
        return queryset.none() if value == "true" else queryset


class ProductList(ListModelMixin, CatalogueView):
    queryset = Agent.objects.order_by("id")
    serializer_class = ProductOut
    filter_backends = [DjangoFilterBackend]
    filterset_class = ProductFilter

    @extend_schema(operation_id="listProducts", summary="Paid-compatible: list products (agents)")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        operation_id="createProduct",
        summary="Paid-compatible: create a product (an agent)",
        request=ProductIn,
        responses={201: ProductOut},
    )
    def post(self, request):
        values = product_values(validated(ProductIn, request.data))
        agent = agent_create(**values)
        return Response(ProductOut(agent).data, status=status.HTTP_201_CREATED)


class ProductObject(CatalogueView):
    queryset = Agent.objects.all()
    serializer_class = ProductDetailOut
    noun = "product"

    @extend_schema(summary="Paid-compatible: a product (an agent)")
    def get(self, request, **kwargs):
        return Response(ProductDetailOut(self.get_object()).data)

    @extend_schema(
        summary="Paid-compatible: change a product (an agent)",
        request=ProductIn,
        responses={200: ProductDetailOut},
        description="Only the fields sent change. active=false stops the agent's keys posting.",
    )
    def put(self, request, **kwargs):
        agent = self.get_object()
        values = product_values(validated(ProductIn, request.data, partial=True))
        agent = agent_update(agent=agent, **values)
        return Response(ProductDetailOut(agent).data)


ProductById, ProductByExternalId = by_id_and_external_id(
    ProductObject, "Product", get="get", put="update"
)
