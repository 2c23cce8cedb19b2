"""Admin of billing periods and invoices: read-only, changed only through actions."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from billing import exports
from billing.admin import receivables
from billing.admin.credit_notes import CreditNoteInline, credit_note_urls
from billing.admin.deliveries import InvoiceDeliveryInline, InvoiceDocumentsMixin
from billing.admin.disputes import InvoiceDisputeInline
from billing.admin.journal import journal_urls
from billing.admin.payments import PaymentInline, payment_urls
from billing.documents import invoice_context
from billing.models import (
    BillingPeriod,
    Invoice,
    InvoiceLine,
)
from billing.receivables import invoices_with_payment_state
from billing.services import (
    ClosingError,
    invoice_void,
    invoice_void_and_reissue,
    period_close,
    period_reissue,
)
from billing.statements import statement_token
from config.admin_tools import ReadOnlyAdmin, money_column, quantity_column


# --- Periods and invoices (read-only; changed only through actions) ---------------------
@admin.register(BillingPeriod)
class BillingPeriodAdmin(ReadOnlyAdmin):
    list_display = ("agreement", "starts_at", "ends_at", "state", "closed_at", "invoice_link")
    list_filter = ("state", "agreement__cadence")
    list_select_related = ("agreement__customer",)
    search_fields = ("agreement__name", "agreement__customer__external_id")
    actions = ["close_now", "reissue"]

    def get_queryset(self, request):
        issued = Invoice.objects.issued().filter(period=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                _invoice_id=Subquery(issued.values("pk")[:1]),
                _invoice_number=Subquery(issued.values("number")[:1]),
            )
        )

    @admin.display(description="invoice")
    def invoice_link(self, obj):
        if not obj._invoice_id:
            return "—"
        url = reverse("admin:billing_invoice_change", args=[obj._invoice_id])
        return format_html('<a href="{}">#{}</a>', url, obj._invoice_number)

    @admin.action(description="Close now (issue the invoice)", permissions=["close"])
    def close_now(self, request, queryset):
        closed = skipped = 0
        for period in queryset.order_by("agreement", "starts_at"):
            try:
                invoice = period_close(period_id=period.pk)
            except ClosingError as exc:
                self.message_user(request, f"{period}: not closed: {exc}", messages.ERROR)
                continue
            if invoice is None:
                skipped += 1
            else:
                closed += 1
        self.message_user(
            request, f"Closed {closed} period(s); {skipped} were not open (closed or voided)."
        )

    @admin.action(description="Reissue the invoice of voided periods", permissions=["close"])
    def reissue(self, request, queryset):
        for period in queryset.order_by("agreement", "starts_at"):
            try:
                invoice = period_reissue(period_id=period.pk)
            except ClosingError as exc:
                self.message_user(request, f"{period}: not reissued: {exc}", messages.ERROR)
                continue
            self.message_user(request, f"{period}: reissued as invoice {invoice.number}.")

    def has_close_permission(self, request):
        return request.user.has_perm("billing.change_billingperiod")


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = (
        "kind",
        "description",
        "successes",
        "partials",
        "quantity_display",
        "unit_price_display",
        "amount_display",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice")

    quantity_display = quantity_column("quantity")
    unit_price_display = money_column("unit_price", currency="invoice.currency", exact=True)
    amount_display = money_column("amount", currency="invoice.currency")

    def has_add_permission(self, request, obj=None):
        return False


class VoidForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why the invoice is wrong; kept in its history.",
    )


@admin.register(Invoice)
class InvoiceAdmin(InvoiceDocumentsMixin, ReadOnlyAdmin):
    list_display = (
        "invoice_number",
        "customer_name",
        "period_dates",
        "total_display",
        "due_display",
        "due_on",
        "payment_status",
    )
    list_filter = (
        receivables.PaymentStateFilter,
        "currency",
        receivables.AgingFilter,
    )
    list_select_related = ("customer", "period__agreement__customer")
    search_fields = ("=number", "customer__name", "customer__external_id")
    inlines = [
        InvoiceLineInline,
        receivables.InvoiceTaxInline,
        PaymentInline,
        CreditNoteInline,
        InvoiceDeliveryInline,
        InvoiceDisputeInline,
    ]
    fields = readonly_fields = (
        "documents",
        "pdf_buttons",
        "number",
        "customer",
        "period",
        "payment_status",
        "currency",
        "net_display",
        "tax_display",
        "total_display",
        "amount_paid_display",
        "amount_credited_display",
        "receivable",
        "issued_at",
        "due_at",
        "replaces",
        "void_reason",
        "voided_at",
        "voided_by",
    )
    actions = ["void_and_reissue", "void", "resend", "export_csv"]

    def has_change_permission(self, request, obj=None):
        return False

    total_display = money_column("total", code=True)
    net_display = money_column("net", code=True, description="net")
    tax_display = money_column("tax", code=True, description="tax (per rate below)")
    amount_paid_display = money_column("amount_paid", code=True, description="amount paid")
    amount_credited_display = money_column(
        "amount_credited", code=True, description="credited (credit notes)"
    )
    due_display = money_column("due_amount", code=True, description="amount due")
    payment_status = receivables.payment_status_column
    receivable = receivables.receivable_field

    def get_queryset(self, request):
        return invoices_with_payment_state(super().get_queryset(request), now=timezone.now())

    # The list shows names and dates, so that every column fits beside the filters; the
    # invoice page shows the customer's external id and the times.
    @admin.display(description="customer", ordering="customer__name")
    def customer_name(self, obj):
        return obj.customer.name

    @admin.display(description="number", ordering="number")
    def invoice_number(self, obj):
        return format_html('<span style="white-space:nowrap">{}</span>', obj.number)

    @admin.display(description="period", ordering="period__starts_at")
    def period_dates(self, obj):
        if obj.period is None:
            return "Credit top-up"
        # The end's year only when it differs: the column stays on one line at 1366 px.
        start, end = obj.period.starts_at, obj.period.ends_at
        shown = (
            f"{start:%Y-%m-%d} – {end:%m-%d}"
            if start.year == end.year
            else (f"{start:%Y-%m-%d} – {end:%Y-%m-%d}")
        )
        return format_html('<span style="white-space:nowrap">{}</span>', shown)

    @admin.display(description="due", ordering="due_at")
    def due_on(self, obj):
        return format_html('<span style="white-space:nowrap">{}</span>', f"{obj.due_at:%Y-%m-%d}")

    @admin.action(description="Export selected invoices as CSV")
    def export_csv(self, request, queryset):
        return exports.csv_response(
            exports.INVOICE_COLUMNS, exports.invoice_rows(queryset), filename="invoices.csv"
        )

    @admin.display(description="documents")
    def documents(self, obj):
        if obj.period_id is None:  # a top-up bills no outcomes: no statement to share
            return format_html(
                '<a class="button" href="{}">Printable invoice</a> '
                '<a class="button" href="{}">CSV</a>',
                reverse("admin:billing_invoice_print", args=[obj.pk]),
                reverse("admin:billing_invoice_csv", args=[obj.pk]),
            )
        statement = reverse("outcome-statement", args=[statement_token(obj.pk)])
        return format_html(
            '<a class="button" href="{}">Printable invoice</a> <a class="button" href="{}">CSV</a> '
            '<a class="button" href="{}" id="statement-link">Customer outcome statement</a> '
            "<span>(a shareable link, valid {} days)</span>",
            reverse("admin:billing_invoice_print", args=[obj.pk]),
            reverse("admin:billing_invoice_csv", args=[obj.pk]),
            statement,
            settings.STATEMENT_LINK_DAYS,
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/print/", view(self.print_view), name="billing_invoice_print"),
            path("<int:pk>/csv/", view(self.csv_view), name="billing_invoice_csv"),
            *self.pdf_urls(),
            *payment_urls(self),
            *credit_note_urls(self),
            *receivables.receivables_urls(self),
            *journal_urls(self),
            *super().get_urls(),
        ]

    def _invoice(self, request, pk):
        invoice = get_object_or_404(
            Invoice.objects.select_related("customer", "period__agreement"), pk=pk
        )
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        return invoice

    def print_view(self, request, pk):
        invoice = self._invoice(request, pk)
        return TemplateResponse(request, "billing/invoice.html", invoice_context(invoice))

    def csv_view(self, request, pk):
        invoice = self._invoice(request, pk)
        return exports.csv_response(
            exports.INVOICE_LINE_COLUMNS,
            exports.invoice_line_rows(invoice),
            filename=f"invoice-{invoice.number}.csv",
        )

    @admin.action(description="Void and reissue (with a reason)", permissions=["void"])
    def void_and_reissue(self, request, queryset):
        return self._void(
            request,
            queryset,
            action="void_and_reissue",
            title="Void and reissue",
            intro="These invoices will be voided (kept, marked void, with your reason) and "
            "reissued from today's data:",
        )

    @admin.action(description="Void, to reissue later (with a reason)", permissions=["void"])
    def void(self, request, queryset):
        return self._void(
            request,
            queryset,
            action="void",
            title="Void",
            intro="These invoices will be voided (kept, marked void, with your reason). Their "
            "periods become voided: later periods wait for them until you correct the data "
            "and reissue them from Billing periods › “Reissue the invoice of voided periods”. "
            "A top-up invoice has no period: its void cancels the credits it sold.",
        )

    def _void(self, request, queryset, *, action, title, intro):
        form = VoidForm(request.POST if "reason" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/billing/invoice/void.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "title": title,
                    "intro": intro,
                    "action": action,
                    "invoices": queryset,
                    "form": form,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        reason = form.cleaned_data["reason"]
        for invoice in queryset:
            try:
                if action == "void":
                    invoice_void(invoice_id=invoice.pk, reason=reason, user=request.user)
                    self.message_user(
                        request,
                        f"Invoice {invoice.number} voided; its period awaits reissue."
                        if invoice.period_id
                        else f"Invoice {invoice.number} voided; what was left of the credits it "
                        "sold is cancelled.",
                    )
                else:
                    new = invoice_void_and_reissue(
                        invoice_id=invoice.pk, reason=reason, user=request.user
                    )
                    self.message_user(
                        request, f"Invoice {invoice.number} voided; reissued as {new.number}."
                    )
            except ClosingError as exc:
                self.message_user(request, f"Invoice {invoice.number}: {exc}", messages.ERROR)
        return None

    def has_void_permission(self, request):
        return request.user.has_perm("billing.void_invoice")
