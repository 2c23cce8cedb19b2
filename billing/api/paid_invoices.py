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

import django_filters
from django.db.models import DecimalField, OuterRef, Prefetch, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.mixins import ListModelMixin
from rest_framework.response import Response

from agents.api.paid_fields import MomentFilter
from agents.api.paid_v2 import ID, CatalogueView, printable
from billing.api.paid_invoice_serializers import (
    PAID_STATUSES,
    PAYMENT_STATUS,
    PAYMENT_STATUSES,
    STATUS,
    InvoiceLineOut,
    InvoiceOut,
    digits,
)
from billing.models import CreditNoteLine, Invoice, InvoiceLine, InvoiceTax
from billing.money import MONEY, ZERO
from billing.receivables import invoices_with_payment_state


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
