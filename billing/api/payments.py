"""Staff API: an invoice's payments. GET lists them (view permission); POST records one
(billing.add_payment: Finance) through billing.receivables.payment_record.

POST /api/v1/invoices/{id}/payments: 201 a new payment; 200 the payment recorded first
when the same reference and amount come again (a retried request records nothing
twice); 400 naming the field to fix; 404 an unknown invoice; 409 a void or paid invoice.
"""

from decimal import Decimal, InvalidOperation

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from agents.api.paid_fields import CurrencyCode, StrictSerializer, Text
from billing.errors import PaymentError
from billing.models import Invoice, Payment
from billing.money import round_line
from billing.receivables import payment_record
from config.openapi import FIELD_ERRORS_OR_DETAIL, detail

# Below 10^12, as every other amount the API takes.
MAX_AMOUNT_DIGITS = 12


class DecimalText(Text):
    """A decimal number as a string ("12.50"): a JSON number would lose cents in some
    clients, so it is refused. Finite, below 10^12; sign and places are checked later."""

    default_error_messages = {"invalid": 'Must be a string holding a decimal number, e.g. "12.50".'}

    def run_validation(self, data=serializers.empty):
        text = super().run_validation(data)  # a string within max_length
        try:
            amount = Decimal(text.strip())
        except InvalidOperation:
            self.fail("invalid")
        if not amount.is_finite():
            raise serializers.ValidationError("Must be a finite number (not NaN or Infinity).")
        if abs(amount) >= Decimal(10) ** MAX_AMOUNT_DIGITS:
            raise serializers.ValidationError("Must be below 1,000,000,000,000.")
        return amount


class PaymentIn(StrictSerializer):
    """A payment received for the invoice. Fields not declared here are refused by name."""

    amount = DecimalText(
        max_length=40,
        help_text="As credited, in the invoice's currency, at most the amount due: a "
        'decimal string with at most the currency\'s minor unit ("12.50"; JPY "1200").',
    )
    currency = CurrencyCode(help_text="ISO 4217; the invoice's currency.")
    received_on = serializers.DateField(help_text="The day it was received; not in the future.")
    # Required here (optional in the admin): it is what makes a retried request safe.
    reference = Text(
        max_length=Payment._meta.get_field("reference").max_length,
        help_text="Bank or processor reference, required: sent again with the same amount, "
        "the first payment is answered (200) and nothing is recorded twice.",
    )

    def validate_reference(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Give the bank or processor reference.")
        return value


class PaymentOut(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    recorded_by = serializers.CharField(
        source="recorded_by.username", default=None, allow_null=True
    )
    invoice_status = serializers.CharField(source="invoice.status")
    invoice_amount_due = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = (
            "id",
            "invoice",
            "amount",
            "currency",
            "received_on",
            "reference",
            "recorded_at",
            "recorded_by",
            "invoice_status",
            "invoice_amount_due",
        )

    def get_amount(self, payment: Payment) -> str:
        return str(round_line(payment.amount, payment.currency))

    def get_invoice_amount_due(self, payment: Payment) -> str:
        return str(round_line(payment.invoice.amount_due, payment.currency))


# Invoice ids are 64-bit: a longer number names no invoice (SQLite would overflow).
MAX_ID = 2**63 - 1


def invoice_or_404(pk: int) -> Invoice:
    invoice = Invoice.objects.filter(pk=pk, number__isnull=False).first() if pk <= MAX_ID else None
    if invoice is None:
        raise exceptions.NotFound(f"No invoice with id {pk}.")
    return invoice


class InvoicePayments(generics.ListAPIView):
    # The permission class reads the model from here (view_ / add_payment), before the
    # invoice is looked up: a client without the permission learns nothing of invoices.
    queryset = Payment.objects.select_related("invoice", "recorded_by")
    serializer_class = PaymentOut

    @extend_schema(operation_id="listInvoicePayments", summary="An invoice's payments")
    def get(self, request, pk):
        invoice = invoice_or_404(pk)
        payments = self.get_queryset().filter(invoice=invoice).order_by("received_on", "id")
        page = self.paginate_queryset(payments)
        return self.get_paginated_response(PaymentOut(page, many=True).data)

    @extend_schema(
        operation_id="recordInvoicePayment",
        summary="Record a payment of an invoice",
        request=PaymentIn,
        responses={
            201: PaymentOut,
            200: OpenApiResponse(PaymentOut, "This reference and amount were recorded already."),
            400: OpenApiResponse(FIELD_ERRORS_OR_DETAIL, "Refused; the field says what to fix."),
            401: detail("The token is invalid."),
            403: detail("Not staff, or without billing.add_payment (Finance has it)."),
            404: detail("No such invoice."),
            409: detail("The invoice is void or paid: it takes no payment."),
        },
    )
    def post(self, request, pk):
        invoice = invoice_or_404(pk)
        data = PaymentIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            payment, created = payment_record(
                invoice_id=invoice.pk,
                amount=values["amount"],
                currency=values["currency"],
                received_on=values["received_on"],
                reference=values.get("reference") or "",
                user=request.user,
            )
        except PaymentError as exc:
            field, _, text = str(exc).partition(": ")
            invoice.refresh_from_db(fields=["status"])
            if invoice.status != Invoice.Status.ISSUED:
                return Response({"detail": text or str(exc)}, status=status.HTTP_409_CONFLICT)
            if field not in PaymentIn().fields or not text:
                field, text = "non_field_errors", str(exc)
            raise exceptions.ValidationError({field: [text]}) from None
        return Response(
            PaymentOut(payment).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
