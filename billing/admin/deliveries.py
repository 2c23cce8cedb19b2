"""Admin of invoice e-mails (deliveries) and PDFs: read-only lists; the invoice page's
PDF buttons, its deliveries, and Finance's "Resend the invoice e-mail" action."""

from django.contrib import admin, messages
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from billing.delivery import invoice_resend
from billing.errors import StateError
from billing.models import InvoiceDelivery, InvoiceDocument
from billing.views import invoice_pdf_response
from config.admin_tools import CappedCountPaginator, ReadOnlyAdmin, time_column

DELIVERY_FIELDS = (
    "kind",
    "credit_note",
    "threshold_days",
    "state",
    "attempts",
    "last_error",
    "next_attempt_at",
    "claimed_at",
    "sent_at",
    "recipients_shown",
    "requested_by",
    "created_at",
)


@admin.display(description="recipients")
def recipients_shown(model_admin, obj):
    return format_html_join(", ", "{}", ((r,) for r in obj.recipients.split()))


@admin.register(InvoiceDelivery)
class InvoiceDeliveryAdmin(ReadOnlyAdmin):
    """Every e-mail about an invoice and what became of it. A row left in `sending`
    (its worker died mid-send) is never re-sent automatically: check the customer's
    inbox, then resend from the invoice list if it did not arrive."""

    list_display = (
        "invoice_number",
        "customer_name",
        "kind",
        "threshold_days",
        "state",
        "attempts",
        "last_error",
        "claimed_at",
        "sent_at",
        "recipients_shown",
    )
    list_filter = ("state", "kind")
    list_select_related = ("invoice__customer", "credit_note")
    search_fields = ("=invoice__number", "=credit_note__number", "invoice__customer__name")
    raw_id_fields = ("invoice", "credit_note")
    fields = readonly_fields = ("invoice", *DELIVERY_FIELDS)
    paginator = CappedCountPaginator
    recipients_shown = recipients_shown

    @admin.display(description="invoice", ordering="invoice__number")
    def invoice_number(self, obj):
        url = reverse("admin:billing_invoice_change", args=[obj.invoice_id])
        return format_html('<a href="{}">{}</a>', url, obj.invoice.number)

    @admin.display(description="customer", ordering="invoice__customer__name")
    def customer_name(self, obj):
        return obj.invoice.customer.name


@admin.register(InvoiceDocument)
class InvoiceDocumentAdmin(ReadOnlyAdmin):
    list_display = ("invoice", "variant", "size", "sha256", "created_at")
    list_filter = ("variant",)
    list_select_related = ("invoice",)
    search_fields = ("=invoice__number", "=sha256")
    fields = readonly_fields = ("invoice", "variant", "size", "sha256", "created_at")
    paginator = CappedCountPaginator

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")  # the bytes stay in the table


class InvoiceDeliveryInline(admin.TabularInline):
    model = InvoiceDelivery
    # Fits the invoice page's box at 1366 px: short times, and who requested it, when it
    # was created and claimed on the delivery's page ("View").
    fields = readonly_fields = (
        "kind",
        "credit_note",
        "threshold_days",
        "state",
        "attempts",
        "last_error",
        "next_attempt",
        "sent",
        "recipients_shown",
    )
    next_attempt = time_column("next_attempt_at", description="next attempt")
    sent = time_column("sent_at", description="sent")
    extra = 0
    can_delete = False
    show_change_link = True
    recipients_shown = recipients_shown

    def get_queryset(self, request):
        # Each row's title names its invoice's (or credit note's) number: one query, not
        # one per row.
        return (
            super().get_queryset(request).select_related("invoice", "credit_note", "requested_by")
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class InvoiceDocumentsMixin:
    """What InvoiceAdmin gains: PDF URLs and buttons with the SHA-256, the deliveries
    inline, the resend action."""

    def pdf_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/pdf/", view(self.pdf_view), name="billing_invoice_pdf"),
            path(
                "<int:pk>/pdf/void/",
                view(self.pdf_view),
                {"variant": InvoiceDocument.Variant.VOID},
                name="billing_invoice_pdf_void",
            ),
        ]

    def pdf_view(self, request, pk, variant=InvoiceDocument.Variant.ORIGINAL):
        return invoice_pdf_response(request, self._invoice(request, pk), variant)

    @admin.display(description="PDF")
    def pdf_buttons(self, obj):
        documents = {d.variant: d for d in obj.documents.defer("content")}
        if not documents:
            return format_html(
                '<a class="button" href="{}">PDF</a> <span>(not rendered yet)</span>',
                reverse("admin:billing_invoice_pdf", args=[obj.pk]),
            )
        return format_html_join(
            "<br>",
            '<a class="button" href="{}">{}</a> <span>SHA-256 <code>{}</code>, {} bytes</span>',
            (
                (
                    reverse(name, args=[obj.pk]),
                    label,
                    documents[variant].sha256,
                    documents[variant].size,
                )
                for variant, name, label in (
                    (InvoiceDocument.Variant.ORIGINAL, "admin:billing_invoice_pdf", "PDF"),
                    (InvoiceDocument.Variant.VOID, "admin:billing_invoice_pdf_void", "PDF (void)"),
                )
                if variant in documents
            ),
        )

    @admin.action(description="Resend the invoice e-mail", permissions=["resend"])
    def resend(self, request, queryset):
        queued = 0
        for invoice in queryset.order_by("pk"):
            try:
                invoice_resend(invoice_id=invoice.pk, user=request.user)
            except StateError as exc:
                self.message_user(request, f"Not resent: {exc}", messages.ERROR)
                continue
            queued += 1
        if queued:
            self.message_user(
                request,
                f"Queued the e-mail of {queued} invoice(s); see Invoice deliveries for "
                "when it is sent.",
            )

    def has_resend_permission(self, request):
        return request.user.has_perm("billing.resend_invoice")
