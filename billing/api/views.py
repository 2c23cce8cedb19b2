"""Staff read endpoints for margins and invoices, as JSON or CSV (?format=csv).

CSV rows come from billing.exports: the same columns and formats as the admin's exports.
"""

import django_filters
from django.utils import timezone
from rest_framework import serializers, viewsets
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer

from billing import exports
from billing.models import Invoice, MarginFigure
from config.api import BoundedIsoDateTimeFilter


class CSVRenderer(BaseRenderer):
    """A list page's results as CSV in the view's export columns. An object or an error
    (a dict) is one row of its own keys."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        rows = data.get("results", data) if isinstance(data, dict) else data
        if isinstance(rows, dict):
            rows = [rows]
        view = (renderer_context or {}).get("view")
        columns = list(rows[0]) if rows else getattr(view, "export_columns", ())
        if not columns:
            return ""
        return exports.csv_text(columns, rows)


class InvoiceExportSerializer(serializers.BaseSerializer):
    def to_representation(self, instance):
        return exports.invoice_row(instance)


class MarginExportSerializer(serializers.BaseSerializer):
    def to_representation(self, instance):
        return exports.margin_row(instance)


class StaffReadOnly(viewsets.ReadOnlyModelViewSet):
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]
    export_columns: tuple[str, ...] = ()
    export_serializer_class: type[serializers.BaseSerializer]

    def get_serializer_class(self):
        renderer = getattr(self.request, "accepted_renderer", None)
        if renderer is not None and renderer.format == CSVRenderer.format:
            return self.export_serializer_class
        return self.serializer_class


class MarginSerializer(serializers.ModelSerializer):
    customer_id = serializers.CharField(source="customer.external_id")
    agent_id = serializers.CharField(source="agent.external_id")
    outcome = serializers.CharField(source="outcome_definition.name")
    period_start = serializers.DateTimeField(source="period.starts_at")
    period_end = serializers.DateTimeField(source="period.ends_at")
    invoice_number = serializers.CharField(source="invoice.number")

    class Meta:
        model = MarginFigure
        fields = ("id", *exports.MARGIN_COLUMNS)


class PeriodRangeFilter(django_filters.FilterSet):
    customer = django_filters.CharFilter(field_name="customer__external_id")
    period_from = BoundedIsoDateTimeFilter(field_name="period__starts_at", lookup_expr="gte")
    period_to = BoundedIsoDateTimeFilter(field_name="period__starts_at", lookup_expr="lte")


class MarginFilter(PeriodRangeFilter):
    agent = django_filters.CharFilter(field_name="agent__external_id")

    class Meta:
        model = MarginFigure
        fields = ["below_target", "incomplete"]


class MarginViewSet(StaffReadOnly):
    queryset = (
        MarginFigure.objects.live()
        .select_related(*exports.MARGIN_RELATED)
        .order_by("-period__starts_at", "id")
    )
    serializer_class = MarginSerializer
    export_serializer_class = MarginExportSerializer
    export_columns = exports.MARGIN_COLUMNS
    filterset_class = MarginFilter


class InvoiceLineSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="What a credit note names as `invoice_line`.")
    kind = serializers.CharField()
    description = serializers.CharField()
    successes = serializers.IntegerField()
    partials = serializers.IntegerField()
    quantity = serializers.DecimalField(max_digits=20, decimal_places=8)
    amount = serializers.DecimalField(max_digits=20, decimal_places=8)


class InvoiceTaxSerializer(serializers.Serializer):
    name = serializers.CharField()
    percent = serializers.DecimalField(max_digits=7, decimal_places=4)
    legal_note = serializers.CharField()
    net = serializers.DecimalField(max_digits=20, decimal_places=8)
    tax = serializers.DecimalField(max_digits=20, decimal_places=8)


class InvoiceSerializer(serializers.ModelSerializer):
    customer_id = serializers.CharField(source="customer.external_id")
    # null for a top-up invoice (kind `top_up`): it bills no period.
    period_start = serializers.DateTimeField(source="period.starts_at", allow_null=True)
    period_end = serializers.DateTimeField(source="period.ends_at", allow_null=True)
    amount_due = serializers.DecimalField(max_digits=20, decimal_places=8, read_only=True)
    days_overdue = serializers.SerializerMethodField()
    taxes = InvoiceTaxSerializer(many=True, help_text="Tax per rate, as printed at issue.")
    lines = InvoiceLineSerializer(many=True)

    class Meta:
        model = Invoice
        fields = ("id", *exports.INVOICE_COLUMNS, "days_overdue", "taxes", "lines")

    def get_days_overdue(self, invoice: Invoice) -> int:
        """Days past the due day with something still due; 0 otherwise."""
        return invoice.days_overdue(timezone.now())


class InvoiceFilter(PeriodRangeFilter):
    # period_from/period_to select period invoices; a top-up invoice has no period, and
    # the issue range finds every invoice.
    issued_from = BoundedIsoDateTimeFilter(field_name="issued_at", lookup_expr="gte")
    issued_to = BoundedIsoDateTimeFilter(field_name="issued_at", lookup_expr="lte")

    class Meta:
        model = Invoice
        fields = ["status", "currency", "kind"]


class InvoiceViewSet(StaffReadOnly):
    queryset = (
        Invoice.objects.filter(number__isnull=False)
        .select_related(*exports.INVOICE_RELATED)
        .prefetch_related("lines", "taxes")
        .order_by("-issued_at", "-id")
    )
    serializer_class = InvoiceSerializer
    export_serializer_class = InvoiceExportSerializer
    export_columns = exports.INVOICE_COLUMNS
    filterset_class = InvoiceFilter
