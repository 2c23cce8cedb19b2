"""Staff read endpoints for margins and invoices, as JSON or CSV (?format=csv)."""

import csv
import io

import django_filters
from rest_framework import serializers, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import IsAdminUser
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer

from billing.models import Invoice, MarginFigure


class CSVRenderer(BaseRenderer):
    """Flat rows as CSV: a list page's results, one row per object."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        rows = data.get("results", data) if isinstance(data, dict) else data
        if isinstance(rows, dict):
            rows = [rows]
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {k: v if not isinstance(v, dict) else str(v) for k, v in row.items()}
                )
        return out.getvalue()


class StaffReadOnly(viewsets.ReadOnlyModelViewSet):
    authentication_classes = [SessionAuthentication, TokenAuthentication]
    permission_classes = [IsAdminUser]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]


class MarginSerializer(serializers.ModelSerializer):
    customer_id = serializers.CharField(source="customer.external_id")
    agent_id = serializers.CharField(source="agent.external_id")
    outcome = serializers.CharField(source="outcome_definition.name")
    period_start = serializers.DateTimeField(source="period.starts_at")
    period_end = serializers.DateTimeField(source="period.ends_at")
    invoice_number = serializers.IntegerField(source="invoice.number")

    class Meta:
        model = MarginFigure
        fields = (
            "id",
            "period_start",
            "period_end",
            "invoice_number",
            "customer_id",
            "agent_id",
            "outcome",
            "currency",
            "successes",
            "partials",
            "failures",
            "revenue_outcomes",
            "revenue_allocated",
            "revenue",
            "cost",
            "cost_by_category",
            "cost_by_model",
            "cost_of_failures",
            "margin",
            "margin_percent",
            "reporting_currency",
            "revenue_reporting",
            "cost_reporting",
            "incomplete",
            "missing_rates",
            "below_target",
        )


class PeriodRangeFilter(django_filters.FilterSet):
    customer = django_filters.CharFilter(field_name="customer__external_id")
    period_from = django_filters.IsoDateTimeFilter(
        field_name="period__starts_at", lookup_expr="gte"
    )
    period_to = django_filters.IsoDateTimeFilter(field_name="period__starts_at", lookup_expr="lte")


class MarginFilter(PeriodRangeFilter):
    agent = django_filters.CharFilter(field_name="agent__external_id")

    class Meta:
        model = MarginFigure
        fields = ["below_target", "incomplete"]


class MarginViewSet(StaffReadOnly):
    queryset = (
        MarginFigure.objects.filter(invoice__status="issued")
        .select_related("customer", "agent", "outcome_definition", "period", "invoice")
        .order_by("-period__starts_at", "id")
    )
    serializer_class = MarginSerializer
    filterset_class = MarginFilter


class InvoiceLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    description = serializers.CharField()
    successes = serializers.IntegerField()
    partials = serializers.IntegerField()
    quantity = serializers.DecimalField(max_digits=20, decimal_places=8)
    amount = serializers.DecimalField(max_digits=20, decimal_places=8)


class InvoiceSerializer(serializers.ModelSerializer):
    customer_id = serializers.CharField(source="customer.external_id")
    period_start = serializers.DateTimeField(source="period.starts_at")
    period_end = serializers.DateTimeField(source="period.ends_at")
    lines = InvoiceLineSerializer(many=True)

    class Meta:
        model = Invoice
        fields = (
            "id",
            "number",
            "customer_id",
            "period_start",
            "period_end",
            "status",
            "currency",
            "total",
            "issued_at",
            "due_at",
            "void_reason",
            "lines",
        )


class InvoiceFilter(PeriodRangeFilter):
    class Meta:
        model = Invoice
        fields = ["status", "currency"]


class InvoiceViewSet(StaffReadOnly):
    queryset = (
        Invoice.objects.filter(number__isnull=False)
        .select_related("customer", "period")
        .prefetch_related("lines")
        .order_by("-number")
    )
    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter

    def get_serializer_class(self):
        renderer = getattr(self.request, "accepted_renderer", None)
        return InvoiceFlatSerializer if renderer and renderer.format == "csv" else InvoiceSerializer


class InvoiceFlatSerializer(InvoiceSerializer):
    class Meta(InvoiceSerializer.Meta):
        fields = tuple(f for f in InvoiceSerializer.Meta.fields if f != "lines")
