"""Agents post signals and costs with an API key; staff read them (session or token)."""

import django_filters
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.api import inputs
from agents.api import serializers as s
from agents.api.authentication import AgentKeyAuthentication, AgentKeyThrottle, HasAgentKey
from agents.api.parsers import LimitedJSONParser
from agents.api.staff_authentication import StaffTokenAuthentication
from agents.costs import costs_ingest
from agents.models import Agent, Cost, Signal
from agents.services import IngestError, signals_ingest
from config.api import BoundedIsoDateTimeFilter
from config.openapi import bad_request, batch_refused
from config.permissions import StaffModelPermissions

SEED_PAYLOAD = {
    "agent_id": "agent_1",
    "event_name": "document_processed",
    "customer_id": "cus_42",
    "data": {
        "llm_tokens": 15000,
        "llm_cost": 0.045,
        "infrastructure_cost": 0.023,
        "processing_time": 45.2,
    },
}


class AgentIngestMixin:
    """POST needs an agent API key (throttled per key); reads need a staff user with the
    model's view permission."""

    parser_classes = [LimitedJSONParser]

    @property
    def ingesting(self) -> bool:
        # Django's View.setup() sets self.request before DRF picks authenticators.
        request = getattr(self, "request", None)
        return request is not None and request.method == "POST"

    def get_authenticators(self):
        if self.ingesting:
            return [AgentKeyAuthentication()]
        return [SessionAuthentication(), StaffTokenAuthentication()]

    def get_permissions(self):
        return [HasAgentKey()] if self.ingesting else [StaffModelPermissions()]

    def get_throttles(self):
        return [AgentKeyThrottle()] if self.ingesting else []


def batch_of(request, name: str, *, strict: bool = True) -> list:
    """The list under `name`; other top-level fields are refused (strict, v1) or left
    alone (v2, which accepts what Paid's API accepts)."""
    body = request.data
    if not isinstance(body, dict) or not isinstance(body.get(name), list):
        raise ValidationError({name: [f'Send a JSON object {{"{name}": [...]}} with a list.']})
    unknown = [key for key in body if key != name] if strict else []
    if unknown:
        names = ", ".join(repr(str(key)) for key in unknown)
        raise ValidationError({name: [f'Unknown field(s) {names}: send only {{"{name}": [...]}}.']})
    items = body[name]
    if len(items) > inputs.MAX_BATCH:
        raise ValidationError(
            {name: [f"At most {inputs.MAX_BATCH:,} per request, got {len(items):,}; split it."]}
        )
    if not items:
        raise ValidationError({name: ["The list is empty."]})
    return items


def parse_all(items, parse, resolver):
    """Parse every item; returns ({index: input}, {index: errors})."""
    now = timezone.now()
    parsed, errors = {}, {}
    for index, item in enumerate(items):
        try:
            parsed[index] = parse(item, resolver, now)
        except IngestError as exc:
            errors[index] = exc.errors
    return parsed, errors


def ingest_signals(items, parse, resolver):
    parsed, errors = parse_all(items, parse, resolver)
    order = list(parsed)
    result = signals_ingest(items=[parsed[i] for i in order])
    for position, item_errors in result.errors.items():
        errors[order[position]] = item_errors
    return len(result.stored), len(result.duplicates), errors


def bulk_body(ingested: int, duplicates: int, errors: dict) -> dict:
    return {
        "ingested": ingested,
        "duplicates": duplicates,
        "failed": len(errors),
        "errors": [{"index": i, "errors": errors[i]} for i in sorted(errors)],
    }


class SignalFilter(django_filters.FilterSet):
    customer = django_filters.CharFilter(field_name="external_customer_id")
    agent = django_filters.CharFilter(field_name="agent__external_id")
    event = django_filters.CharFilter(field_name="event_name")
    occurred_after = BoundedIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = BoundedIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    attributed = django_filters.BooleanFilter(
        field_name="customer", lookup_expr="isnull", exclude=True
    )
    workflow = django_filters.CharFilter(field_name="workflow_id")

    class Meta:
        model = Signal
        fields = []


class CostFilter(SignalFilter):
    category = django_filters.ChoiceFilter(choices=Cost.Category.choices)
    priced = django_filters.BooleanFilter(
        field_name="amount",
        lookup_expr="isnull",
        exclude=True,
        label="false: the unpriced costs (traced calls to models the catalogue does not know)",
    )
    signal = django_filters.NumberFilter(field_name="signal_id")
    trace = django_filters.CharFilter(field_name="trace_id")
    event = None

    class Meta:
        model = Cost
        fields = []


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class SignalViewSet(
    AgentIngestMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Signal.objects.select_related("agent").prefetch_related("costs")
    serializer_class = s.SignalSerializer
    filterset_class = SignalFilter
    pagination_class = NewestFirst
    lookup_value_regex = r"\d+"

    @extend_schema(
        request=s.SignalInSerializer,
        responses={
            201: s.SignalSerializer,
            200: OpenApiResponse(s.SignalSerializer, "Replay: the original, nothing stored."),
            400: bad_request(s.ErrorsSerializer),
        },
        examples=[OpenApiExample("Document processed", value=SEED_PAYLOAD, request_only=True)],
        summary="Post one signal",
    )
    def create(self, request):
        resolver = inputs.AgentResolver(request.auth)
        try:
            item = inputs.signal_v1(request.data, resolver, timezone.now())
        except IngestError as exc:
            return Response({"errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
        result = signals_ingest(items=[item])
        if result.errors:
            return Response({"errors": result.errors[0]}, status=status.HTTP_400_BAD_REQUEST)
        if result.duplicates:
            signal = self.get_queryset().get(pk=result.duplicates[0].pk)
            return Response(self.get_serializer(signal).data, status=status.HTTP_200_OK)
        return Response(self.get_serializer(result.stored[0]).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.BulkSignalsInSerializer,
        responses={200: s.BulkResultSerializer, 400: bad_request(batch_refused("signals"))},
        description=(
            f"At most {inputs.MAX_BATCH:,} signals and API_MAX_BODY_BYTES per request (400 and "
            "413 past them). Each item is validated on its own: a bad one is reported in "
            "`errors` by its index and the others are stored. Replays (same idempotency key) "
            "are counted in `duplicates` and store nothing."
        ),
        examples=[
            OpenApiExample("Batch", value={"signals": [SEED_PAYLOAD]}, request_only=True),
            OpenApiExample(
                "Result",
                value={
                    "ingested": 1,
                    "duplicates": 0,
                    "failed": 1,
                    "errors": [{"index": 1, "errors": {"event_name": ["This field is required."]}}],
                },
                response_only=True,
            ),
        ],
        summary="Post up to 1,000 signals",
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request):
        items = batch_of(request, "signals")
        ingested, duplicates, errors = ingest_signals(
            items, inputs.signal_v1, inputs.AgentResolver(request.auth)
        )
        return Response(bulk_body(ingested, duplicates, errors))


class CostViewSet(
    AgentIngestMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Cost.objects.select_related("agent")
    serializer_class = s.CostSerializer
    filterset_class = CostFilter
    pagination_class = NewestFirst
    lookup_value_regex = r"\d+"

    @extend_schema(
        request=s.BulkCostsInSerializer,
        responses={200: s.BulkResultSerializer, 400: bad_request(batch_refused("costs"))},
        description=(
            f"At most {inputs.MAX_BATCH:,} costs and API_MAX_BODY_BYTES per request (400 and "
            "413 past them). Each item is validated on its own: a bad one is reported in "
            "`errors` by its index and the others are stored. Replays (same idempotency key) "
            "are counted in `duplicates` and store nothing."
        ),
        examples=[
            OpenApiExample(
                "Amount, and usage priced from the catalogue",
                value={
                    "costs": [
                        {
                            "agent_id": "agent_1",
                            "customer_id": "cus_42",
                            "amount": "0.12",
                            "currency": "USD",
                            "category": "tool",
                            "idempotency_key": "c-1",
                        },
                        {
                            "agent_id": "agent_1",
                            "customer_id": "cus_42",
                            "vendor": "openai",
                            "model": "gpt-4o",
                            "input_tokens": 1200,
                            "output_tokens": 300,
                            "signal_idempotency_key": "sig-1",
                        },
                    ]
                },
                request_only=True,
            )
        ],
        summary="Post up to 1,000 standalone costs",
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request):
        items = batch_of(request, "costs")
        parsed, errors = parse_all(items, inputs.cost_v1, inputs.AgentResolver(request.auth))
        order = list(parsed)
        result = costs_ingest(items=[parsed[i] for i in order])
        for position, item_errors in result.errors.items():
            errors[order[position]] = item_errors
        return Response(bulk_body(len(result.stored), len(result.duplicates), errors))


class AgentViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Agent.objects.all()
    serializer_class = s.AgentSerializer
    filterset_fields = ["active", "external_id"]


class PaidIngestView(APIView):
    """Paid's public v2 wire format, for agents instrumented with Paid's SDK."""

    authentication_classes = [AgentKeyAuthentication]
    permission_classes = [HasAgentKey]
    throttle_classes = [AgentKeyThrottle]
    parser_classes = [LimitedJSONParser]


class PaidSignalsBulkView(PaidIngestView):
    @extend_schema(
        request=s.V2BulkSignalsSerializer,
        responses={200: s.V2SignalsResultSerializer, 400: bad_request(batch_refused("signals"))},
        description=(
            f"At most {inputs.MAX_BATCH:,} signals and API_MAX_BODY_BYTES per request (400 and "
            "413 past them). Each item is validated on its own: a bad one is reported in "
            "`errors` by its index and the others are stored. Replays (same idempotency key) "
            "are counted in `duplicates` and store nothing."
        ),
        summary="Paid-compatible: post signals",
    )
    def post(self, request):
        items = batch_of(request, "signals", strict=False)
        ingested, duplicates, errors = ingest_signals(
            items, inputs.signal_v2, inputs.AgentResolver(request.auth)
        )
        return Response(bulk_body(ingested, duplicates, errors))


class PaidCostsBulkView(PaidIngestView):
    @extend_schema(
        request=s.V2BulkCostsSerializer,
        responses={
            200: s.V2CostsResultSerializer,
            400: bad_request(s.BulkResultSerializer, batch_refused("costs")),
        },
        description=(
            f"At most {inputs.MAX_BATCH:,} costs and API_MAX_BODY_BYTES per request (400 and "
            "413 past them). As Paid's API: one bad cost refuses the batch (400 listing every "
            "bad one by index) and nothing is stored."
        ),
        summary="Paid-compatible: post costs (all or nothing)",
    )
    def post(self, request):
        items = batch_of(request, "costs", strict=False)
        parsed, errors = parse_all(items, inputs.cost_v2, inputs.AgentResolver(request.auth))
        if errors:
            # As Paid's API: one bad record rejects the batch and nothing is stored.
            return Response(bulk_body(0, 0, errors), status=status.HTTP_400_BAD_REQUEST)
        result = costs_ingest(items=[parsed[i] for i in sorted(parsed)])
        return Response({"ingested": len(result.stored), "duplicates": len(result.duplicates)})
