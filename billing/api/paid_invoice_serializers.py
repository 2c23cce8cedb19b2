"""Paid's v2 invoice and invoice line bodies (billing/api/paid_invoices.py serves them):
Paid's field names over our invoices, amounts as exact JSON numbers."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import get_attribute

from agents.api.paid_v2 import MAX_ID_DIGITS
from billing.models import Invoice, InvoiceLine
from billing.money import ZERO, json_number, round_line
from billing.receivables import PaymentState

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


def service_dates(period, invoice) -> tuple[str, str]:
    """startDate and endDate: the period's bounds; a top-up invoice (no period) is a
    one-off sale on its issue date (Paid's SDK requires both)."""
    show = serializers.DateTimeField().to_representation
    if period is None:
        return show(invoice.issued_at), show(invoice.issued_at)
    return show(period.starts_at), show(period.ends_at)


class InvoiceOut(serializers.Serializer):
    id = serializers.CharField(source="pk")
    displayNumber = serializers.CharField(source="number")
    # null for a top-up invoice: it bills no period of an order.
    orderId = serializers.CharField(source="period.agreement_id", allow_null=True)
    customerId = serializers.CharField(source="customer_id")
    status = serializers.SerializerMethodField()
    paymentStatus = serializers.SerializerMethodField()
    source = serializers.SerializerMethodField()
    startDate = serializers.SerializerMethodField()
    endDate = serializers.SerializerMethodField()
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

    @extend_schema_field(serializers.DateTimeField())
    def get_startDate(self, invoice: Invoice):
        return service_dates(invoice.period, invoice)[0]

    @extend_schema_field(serializers.DateTimeField())
    def get_endDate(self, invoice: Invoice):
        return service_dates(invoice.period, invoice)[1]

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
    def get_taxRate(self, invoice: Invoice) -> Decimal:
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

    def _due(self, invoice: Invoice) -> Decimal:
        return json_number(round_line(invoice.amount_due, invoice.currency))

    @extend_schema_field({"type": "number", "description": "Left to pay; 0 once void."})
    def get_amountDue(self, invoice: Invoice) -> Decimal:
        return self._due(invoice)

    @extend_schema_field({"type": "number", "description": "Left to pay; 0 once void."})
    def get_amountRemaining(self, invoice: Invoice) -> Decimal:
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
    orderId = serializers.CharField(source="invoice.period.agreement_id", allow_null=True)
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
        return service_dates(self._period(line), line.invoice)[0]

    @extend_schema_field(serializers.DateTimeField())
    def get_endDate(self, line: InvoiceLine):
        return service_dates(self._period(line), line.invoice)[1]

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
    def get_tax(self, line: InvoiceLine) -> Decimal:
        return json_number(self._tax(line))

    @extend_schema_field({"type": "number", "description": "Percent, e.g. 20; 0 without tax."})
    def get_taxRate(self, line: InvoiceLine) -> Decimal:
        return json_number((line.tax_percent or ZERO).normalize())

    @extend_schema_field({"type": "number"})
    def get_totalPriceAfterTax(self, line: InvoiceLine) -> Decimal:
        amount = round_line(line.amount, line.invoice.currency)
        return json_number(amount + self._tax(line))

    @extend_schema_field(
        {"type": "number", "description": "The amount less the net credited; 0 once void."}
    )
    def get_balanceAmount(self, line: InvoiceLine) -> Decimal:
        if line.invoice.status == Invoice.Status.VOID:
            return 0
        return json_number(round_line(line.amount - line.credited, line.invoice.currency))
