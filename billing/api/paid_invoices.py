"""Paid's v2 invoices, read only: /api/v2/invoices/, /api/v2/invoices/{id} and its lines.

Our issued and void invoices in Paid's field names. Amounts are JSON numbers, as Paid's
types declare, in the currency's major unit (12.34 USD) and exact: each is rounded to
the currency's minor unit (billing.money.json_number). Tax: taxAmount is the invoice's
tax (per rate on the net, rounded once per rate); a line's tax is its share at its rate,
rounded per line (the lines' taxes may differ from taxAmount by a minor unit). Payments:
amountPaid, amountDue = amountRemaining (0 once void), paymentStatus paid, partiallyPaid,
overdue (wins over partiallyPaid) or pending; an invoice its credit notes cover in full
is paid (nothing is expected of it). Credit notes: creditNotesTotal is the sum of their
totals (amountDue nets it); a line's creditedAmount is the net credited on it, and its
balanceAmount what is left of it. Not kept here, so always the same: links and
purchase-order references (null).
"""

from decimal import Decimal

import django_filters
from django.db.models import DecimalField, OuterRef, Prefetch, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.fields import get_attribute
from rest_framework.mixins import ListModelMixin
from rest_framework.response import Response

from agents.api.paid_fields import MomentFilter
from agents.api.paid_v2 import ID, MAX_ID_DIGITS, CatalogueView, printable
from billing.models import CreditNoteLine, Invoice, InvoiceLine, InvoiceTax
from billing.money import MONEY, ZERO, json_number, round_line
from billing.receivables import PaymentState, invoices_with_payment_state

STATUS = {
    Invoice.Status.ISSUED: "posted",
    Invoice.Status.PAID: "posted",
    Invoice.Status.VOID: "voided",
}
PAID_STATUSES = ["building", "draft", "pending", "posted", "voided", "canceled", "error"]
PAYMENT_STATUSES = ["pending", "paid", "partiallyPaid", "overdue", "error"]
# Ours -> Paid's paymentStatus (a void invoice is pending: nothing is expected of it).
PAYMENT_STATUS = {
    PaymentState.ISSUED: "pending",
    PaymentState.VOID: "pending",
    PaymentState.PARTLY_PAID: "partiallyPaid",
    PaymentState.OVERDUE: "overdue",
    PaymentState.PAID: "paid",
    PaymentState.CREDITED: "paid",
}
TAX_STATUSES = ["not_applicable", "calculated", "voided"]


@extend_schema_field(
    {"type": "number", "description": "Exact, in the currency's major unit (12.34 USD)."}
)
class Amount(serializers.Field):
    """An amount rounded to its currency's minor unit, as an exact JSON number."""

    def __init__(self, *, currency: str = "currency", **kwargs):
        self.currency = currency
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        value = super().get_attribute(instance)
        currency = get_attribute(instance, self.currency.split("."))
        return round_line(value, currency)

    def to_representation(self, value: Decimal):
        return json_number(value)


def digits(value: str) -> int | None:
    return (
        int(value) if value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS else None
    )


class InvoiceOut(serializers.Serializer):
    id = serializers.CharField(source="pk")
    displayNumber = serializers.CharField(source="number")
    orderId = serializers.CharField(source="period.agreement_id")
    customerId = serializers.CharField(source="customer_id")
    status = serializers.SerializerMethodField()
    paymentStatus = serializers.SerializerMethodField()
    source = serializers.SerializerMethodField()
    startDate = serializers.DateTimeField(source="period.starts_at")
    endDate = serializers.DateTimeField(source="period.ends_at")
    issueDate = serializers.DateTimeField(source="issued_at")
    postedDate = serializers.DateTimeField(source="issued_at")
    dueDate = serializers.DateTimeField(source="due_at")
    currency = serializers.CharField()
    taxAmount = Amount(source="tax")
    taxRate = serializers.SerializerMethodField()
    taxStatus = serializers.SerializerMethodField()
    invoiceTotalExcludingTax = Amount(source="net")
    invoiceTotal = Amount(source="total")
    amountDue = serializers.SerializerMethodField()
    amountPaid = Amount(source="amount_paid")
    amountRemaining = serializers.SerializerMethodField()
    creditNotesTotal = Amount(source="amount_credited")
    metadata = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="issued_at")
    updatedAt = serializers.SerializerMethodField()
    paymentLink = serializers.SerializerMethodField()
    disputeLink = serializers.SerializerMethodField()
    publicUrlToken = serializers.SerializerMethodField()
    taxExempt = serializers.SerializerMethodField()
    billingContactId = serializers.SerializerMethodField()
    purchaseOrderReference = serializers.SerializerMethodField()

    @extend_schema_field({"type": "string", "enum": list(STATUS.values())})
    def get_status(self, invoice: Invoice) -> str:
        return STATUS[invoice.status]

    @extend_schema_field({"type": "string", "enum": sorted(set(PAYMENT_STATUS.values()))})
    def get_paymentStatus(self, invoice: Invoice) -> str:
        return PAYMENT_STATUS[invoice.payment_state]

    @extend_schema_field({"type": "string", "enum": ["order_based"]})
    def get_source(self, invoice: Invoice) -> str:
        return "order_based"

    @extend_schema_field(
        {
            "type": "number",
            "description": "The percent of the invoice's one tax rate; with several, the "
            "tax as a percent of the net (2 places); 0 without tax.",
        }
    )
    def get_taxRate(self, invoice: Invoice) -> float:
        taxes = list(invoice.taxes.all())
        if len(taxes) == 1:
            return json_number(taxes[0].percent.normalize())
        if not taxes or not invoice.net:
            return 0
        return json_number((invoice.tax * 100 / invoice.net).quantize(ZERO.scaleb(-2)))

    @extend_schema_field({"type": "string", "enum": TAX_STATUSES})
    def get_taxStatus(self, invoice: Invoice) -> str:
        if invoice.status == Invoice.Status.VOID:
            return "voided"
        return "calculated" if invoice.taxes.all() else "not_applicable"

    def _due(self, invoice: Invoice) -> int | float:
        return json_number(round_line(invoice.amount_due, invoice.currency))

    @extend_schema_field({"type": "number", "description": "Left to pay; 0 once void."})
    def get_amountDue(self, invoice: Invoice) -> float:
        return self._due(invoice)

    @extend_schema_field({"type": "number", "description": "Left to pay; 0 once void."})
    def get_amountRemaining(self, invoice: Invoice) -> float:
        return self._due(invoice)

    @extend_schema_field({"type": "object", "nullable": True})
    def get_metadata(self, invoice: Invoice) -> None:
        return None

    @extend_schema_field(serializers.DateTimeField())
    def get_updatedAt(self, invoice: Invoice):
        return serializers.DateTimeField().to_representation(invoice.voided_at or invoice.issued_at)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_paymentLink(self, invoice: Invoice) -> None:
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_disputeLink(self, invoice: Invoice) -> None:
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_publicUrlToken(self, invoice: Invoice) -> None:
        return None

    def get_taxExempt(self, invoice: Invoice) -> bool:
        """Every rate on it is 0% with a legal note (reverse charge or exempt)."""
        taxes = invoice.taxes.all()
        return bool(taxes) and all(not t.percent and t.legal_note for t in taxes)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_billingContactId(self, invoice: Invoice) -> None:
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_purchaseOrderReference(self, invoice: Invoice) -> None:
        return None


@extend_schema_field(
    {
        "type": "number",
        "description": "Exact; a whole number unless partial outcomes made it fractional "
        "(Paid's type says integer: see docs/paid-api.md).",
    }
)
class Quantity(serializers.Field):
    def to_representation(self, value: Decimal):
        return json_number(value.normalize() if value else ZERO)


class InvoiceLineOut(serializers.Serializer):
    id = serializers.CharField(source="pk")
    orderId = serializers.CharField(source="invoice.period.agreement_id")
    orderLineId = serializers.CharField(source="price_id", allow_null=True)
    orderLineAttributeId = serializers.SerializerMethodField()
    startDate = serializers.SerializerMethodField()
    endDate = serializers.SerializerMethodField()
    paymentStatus = serializers.SerializerMethodField()
    quantity = Quantity()
    totalPriceBeforeTax = Amount(source="amount", currency="invoice.currency")
    tax = serializers.SerializerMethodField()
    taxRate = serializers.SerializerMethodField()
    totalPriceAfterTax = serializers.SerializerMethodField()
    currency = serializers.CharField(source="invoice.currency")
    description = serializers.CharField()
    balanceAmount = serializers.SerializerMethodField()
    creditedAmount = Amount(source="credited", currency="invoice.currency")
    createdAt = serializers.DateTimeField(source="invoice.issued_at")
    updatedAt = serializers.DateTimeField(source="invoice.issued_at")

    @extend_schema_field({"type": "string", "nullable": True})
    def get_orderLineAttributeId(self, line: InvoiceLine) -> None:
        return None

    def _period(self, line: InvoiceLine):
        return line.adjusted_period or line.invoice.period

    @extend_schema_field(serializers.DateTimeField())
    def get_startDate(self, line: InvoiceLine):
        return serializers.DateTimeField().to_representation(self._period(line).starts_at)

    @extend_schema_field(serializers.DateTimeField())
    def get_endDate(self, line: InvoiceLine):
        return serializers.DateTimeField().to_representation(self._period(line).ends_at)

    @extend_schema_field({"type": "string", "enum": sorted(set(PAYMENT_STATUS.values()))})
    def get_paymentStatus(self, line: InvoiceLine) -> str:
        return PAYMENT_STATUS[line.invoice_payment_state]

    def _tax(self, line: InvoiceLine):
        percent = line.tax_percent or ZERO
        return round_line(line.amount * percent / 100, line.invoice.currency)

    @extend_schema_field(
        {
            "type": "number",
            "description": "The line's share of tax at its rate, rounded per line (the "
            "invoice's tax is rounded once per rate: it may differ by a minor unit).",
        }
    )
    def get_tax(self, line: InvoiceLine) -> float:
        return json_number(self._tax(line))

    @extend_schema_field({"type": "number", "description": "Percent, e.g. 20; 0 without tax."})
    def get_taxRate(self, line: InvoiceLine) -> float:
        return json_number((line.tax_percent or ZERO).normalize())

    @extend_schema_field({"type": "number"})
    def get_totalPriceAfterTax(self, line: InvoiceLine) -> float:
        amount = round_line(line.amount, line.invoice.currency)
        return json_number(amount + self._tax(line))

    @extend_schema_field(
        {"type": "number", "description": "The amount less the net credited; 0 once void."}
    )
    def get_balanceAmount(self, line: InvoiceLine) -> float:
        if line.invoice.status == Invoice.Status.VOID:
            return 0
        return json_number(round_line(line.amount - line.credited, line.invoice.currency))


class InvoiceFilter(django_filters.FilterSet):
    customerId = django_filters.CharFilter(method="by_id", field_name="customer_id")
    externalCustomerId = django_filters.CharFilter(field_name="customer__external_id")
    orderId = django_filters.CharFilter(method="by_id", field_name="period__agreement_id")
    status = django_filters.ChoiceFilter(
        choices=[(s, s) for s in PAID_STATUSES],
        method="by_status",
        help_text="posted (issued) or voided; invoices here are never in the other states.",
    )
    paymentStatus = django_filters.ChoiceFilter(
        choices=[(s, s) for s in PAYMENT_STATUSES],
        method="by_payment_status",
        help_text="paid, partiallyPaid, overdue (overdue wins when partly paid) or pending "
        "(issued, nothing paid, not overdue; or void); error finds none.",
    )
    issueDateFrom = MomentFilter(field_name="issued_at")
    issueDateTo = MomentFilter(field_name="issued_at", until=True)
    dueDateFrom = MomentFilter(field_name="due_at")
    dueDateTo = MomentFilter(field_name="due_at", until=True)
    displayNumber = django_filters.CharFilter(field_name="number")
    purchaseOrderReference = django_filters.CharFilter(
        method="by_purchase_order", help_text="Invoices here carry none: finds none."
    )
    currency = django_filters.CharFilter(field_name="currency", lookup_expr="iexact")

    class Meta:
        model = Invoice
        fields = []

    def by_id(self, queryset, name, value):
        number = digits(value)
        return queryset.none() if number is None else queryset.filter(**{name: number})

    def by_status(self, queryset, name, value):
        ours = {paid: ours for ours, paid in STATUS.items()}.get(value)
        return queryset.none() if ours is None else queryset.filter(status=ours)

    def by_payment_status(self, queryset, name, value):
        ours = [state for state, paid in PAYMENT_STATUS.items() if paid == value]
        return queryset.filter(payment_state__in=ours)

    def by_purchase_order(self, queryset, name, value):
        return queryset.none()


INVOICES = (
    Invoice.objects.filter(number__isnull=False)
    .select_related("period")
    .prefetch_related(Prefetch("taxes", queryset=InvoiceTax.objects.order_by("position")))
)


def invoices():
    """The invoices with their payment state as of now (overdue moves with the clock)."""
    return invoices_with_payment_state(INVOICES, now=timezone.now())


class InvoiceList(ListModelMixin, CatalogueView):
    queryset = INVOICES
    serializer_class = InvoiceOut
    filter_backends = [DjangoFilterBackend]
    filterset_class = InvoiceFilter

    def get_queryset(self):
        return invoices().order_by("issued_at", "id")

    @extend_schema(operation_id="listInvoices", summary="Paid-compatible: list invoices")
    def get(self, request):
        return self.list(request)


class InvoiceById(CatalogueView):
    queryset = INVOICES
    serializer_class = InvoiceOut
    noun = "invoice"

    def get_queryset(self):
        return invoices()

    @extend_schema(
        operation_id="getInvoiceById", summary="Paid-compatible: an invoice", parameters=[ID]
    )
    def get(self, request, **kwargs):
        return Response(InvoiceOut(self.get_object()).data)


class InvoiceLines(ListModelMixin, CatalogueView):
    serializer_class = InvoiceLineOut
    noun = "invoice"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return InvoiceLine.objects.none()
        invoice = digits(self.kwargs["id"])
        if invoice is None or not INVOICES.filter(pk=invoice).exists():
            raise exceptions.NotFound(printable(f"No invoice with id {self.kwargs['id']!r}."))
        now = timezone.now()
        state = invoices_with_payment_state(
            Invoice.objects.filter(pk=OuterRef("invoice_id")), now=now
        )
        state = state.values("payment_state")
        credited = (
            CreditNoteLine.objects.filter(invoice_line=OuterRef("pk"))
            .values("invoice_line")
            .annotate(net=Sum("amount"))
            .values("net")
        )
        return (
            InvoiceLine.objects.filter(invoice_id=invoice)
            .select_related("invoice__period", "adjusted_period")
            .annotate(
                invoice_payment_state=Subquery(state[:1]),
                credited=Coalesce(Subquery(credited), ZERO, output_field=DecimalField(**MONEY)),
            )
            .order_by("position", "id")
        )

    @extend_schema(
        operation_id="getInvoiceLines",
        summary="Paid-compatible: an invoice's lines",
        parameters=[ID],
    )
    def get(self, request, **kwargs):
        return self.list(request)
