"""Receivables in the admin: the invoice list's payment status and filters, the invoice
page's taxes and amounts due, and the receivables page (open amounts aged per currency)."""

from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from billing.models import InvoiceTax
from billing.money import format_money
from billing.receivables import (
    AGING_BUCKETS,
    PaymentState,
    invoices_in_bucket,
    receivables_aging,
)
from config.admin_tools import money_column

AGING_PARAMETER = "aging"
OPEN = "open"


def url() -> str:
    return reverse("admin:billing_invoice_receivables")


def invoice_list_url(**query) -> str:
    return reverse("admin:billing_invoice_changelist") + "?" + urlencode(query)


class PaymentStateFilter(admin.SimpleListFilter):
    """By what the status column shows (an overdue invoice partly paid is overdue)."""

    title = "payment status"
    parameter_name = "payment"

    def lookups(self, request, model_admin):
        return [*PaymentState.choices, (OPEN, "Open (anything due)")]

    def queryset(self, request, queryset):
        if self.value() in PaymentState.values:
            return queryset.filter(payment_state=self.value())
        if self.value() == OPEN:
            return queryset.open()
        return queryset


class AgingFilter(admin.SimpleListFilter):
    """Open invoices by days past due, as the receivables page buckets them."""

    title = "days past due (open invoices)"
    parameter_name = AGING_PARAMETER

    def lookups(self, request, model_admin):
        return [(label, label) for label, _, _ in AGING_BUCKETS]

    def queryset(self, request, queryset):
        if self.value() in {label for label, _, _ in AGING_BUCKETS}:
            return invoices_in_bucket(queryset, self.value(), now=timezone.now())
        return queryset


def _credited(invoice) -> str:
    return f"{format_money(invoice.amount_credited, invoice.currency)} {invoice.currency} credited"


@admin.display(description="status", ordering="payment_state")
def payment_status_column(model_admin, invoice):
    """Paid, Partly paid, Overdue N days (partly paid), Credited in full, Issued or Void,
    with what credit notes credited when some did; from the queryset's annotation, and
    days from the row's due date (no query per row)."""
    state = invoice.payment_state
    notes = []
    if state == PaymentState.OVERDUE:
        days = invoice.days_overdue(timezone.now())
        shown = f"Overdue {days} day{'s' if days != 1 else ''}"
        if invoice.amount_paid:
            notes.append("partly paid")
    else:
        shown = PaymentState(state).label
    if invoice.amount_credited and state not in (PaymentState.CREDITED, PaymentState.VOID):
        notes.append(_credited(invoice))
    if notes:
        shown += f" ({'; '.join(notes)})"
    return format_html('<span style="white-space:nowrap">{}</span>', shown)


@admin.display(description="amount due")
def receivable_field(model_admin, invoice):
    """The invoice page: what is due (payments and credit notes netted), how late, and
    what credit notes credited (the payment and credit note buttons are in the page's
    tools, change_form.html, shown to Finance)."""
    due = f"{format_money(invoice.amount_due, invoice.currency)} {invoice.currency}"
    days = invoice.days_overdue(timezone.now())
    late = f", {days} day{'s' if days != 1 else ''} overdue" if days else ""
    if invoice.fully_credited:
        late = " (credited in full)"
    elif invoice.amount_credited:
        late += f" ({_credited(invoice)})"
    if invoice.amount_refundable:
        owed = format_money(invoice.amount_refundable, invoice.currency)
        late += f"; {owed} {invoice.currency} paid beyond it is owed back to the customer"
    return format_html('<span id="amount-due">{}{}</span>', due, late)


class InvoiceTaxInline(admin.TabularInline):
    """Tax per rate, as printed at issue."""

    model = InvoiceTax
    fields = ("name", "percent", "net_display", "tax_display", "legal_note")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Tax per rate"
    net_display = money_column("net", currency="invoice.currency")
    tax_display = money_column("tax", currency="invoice.currency")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def receivables_view(model_admin, request):
    """/admin/billing/invoice/receivables/: open amounts per currency and aging bucket,
    each linking to the invoices it counts. Anyone who may view invoices."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    rows = []
    for row in receivables_aging(now=now):
        currency = row["currency"]
        rows.append(
            {
                "currency": currency,
                "buckets": [
                    {
                        "label": label,
                        "amount": row["buckets"][label],
                        "invoices": row["counts"][label],
                        "url": invoice_list_url(currency=currency, **{AGING_PARAMETER: label}),
                    }
                    for label, _, _ in AGING_BUCKETS
                ],
                "total": row["total"],
                "invoices": row["invoices"],
                "url": invoice_list_url(currency=currency, payment=OPEN),
            }
        )
    return TemplateResponse(
        request,
        "admin/billing/invoice/receivables.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "title": "Receivables",
            "rows": rows,
            "labels": [label for label, _, _ in AGING_BUCKETS],
            "today": now.date(),
        },
    )


def receivables_urls(model_admin) -> list:
    view = model_admin.admin_site.admin_view
    return [
        path(
            "receivables/",
            view(lambda request: receivables_view(model_admin, request)),
            name="billing_invoice_receivables",
        )
    ]
