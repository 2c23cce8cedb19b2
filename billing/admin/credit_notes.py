"""Credit notes in the admin: Finance's form on the invoice page (it calls
billing.credit_notes.credit_note_issue_once and shows its refusal on the field it names),
the invoice page's list of its credit notes, and a read-only CreditNote admin with the
PDF and the resend action. Nobody edits or deletes a credit note.

A double submit issues one credit note: the form carries a token made when it is shown,
sent as the credit note's reference; the same form posted again finds the credit note
issued with it (under the invoice's lock) and issues nothing more.
"""

import re
import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from billing.admin.deliveries import DELIVERY_FIELDS, recipients_shown
from billing.credit_notes import CreditRequest, credit_note_issue_once, line_creditable_alone
from billing.delivery import credit_note_resend
from billing.documents import credit_note_context
from billing.errors import CreditNoteError
from billing.models import (
    CreditNote,
    CreditNoteDocument,
    CreditNoteLine,
    CreditNoteTax,
    Invoice,
    InvoiceDelivery,
    InvoiceLine,
)
from billing.money import format_money
from billing.views import credit_note_pdf_response
from config.admin_tools import CappedCountPaginator, ReadOnlyAdmin, money_column, time_column

ALL = "all"
LINE_FIELD = "line_{}"
ERROR_FIELD = re.compile(r"^lines\[(\d+)\]\.(?:amount|invoice_line)$")


class CreditNoteForm(forms.Form):
    """Reason, and either the whole invoice or an amount per line (one field per line
    with something left: blank = nothing, "all" = everything left of it)."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why the invoice is credited; printed on the credit note.",
    )
    full = forms.BooleanField(
        required=False, label="Credit the whole invoice (everything that is left)"
    )
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, creditable, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        # A prepaid credits line (negative): what is left to give back to its grant.
        creditable = [
            (line, -left if line.kind == InvoiceLine.Kind.CREDITS_APPLIED else left)
            for line, left in creditable
        ]
        self.creditable = [(line, left) for line, left in creditable if left > 0]
        for line, left in self.creditable:
            help_text = (
                f"Left: {format_money(left, currency)} {currency}. "
                f'An amount (net), "{ALL}" for all of it, or blank.'
            )
            if line.kind == InvoiceLine.Kind.CREDITS_APPLIED:
                help_text = (
                    f"Prepaid credits to give back to the grant: at most "
                    f"{format_money(left, currency)} {currency} (lowers the credit note). "
                    f'An amount, "{ALL}", or blank.'
                )
            self.fields[LINE_FIELD.format(line.pk)] = forms.CharField(
                required=False, max_length=40, label=line.description, help_text=help_text
            )

    def line_rows(self):
        return [(line, left, self[LINE_FIELD.format(line.pk)]) for line, left in self.creditable]

    def clean(self):
        data = super().clean()
        requests = []
        for line, _ in self.creditable:
            value = (data.get(LINE_FIELD.format(line.pk)) or "").strip()
            if value:
                amount = None if value.lower() == ALL else value
                requests.append(CreditRequest(line.pk, amount))
        if data.get("full") and requests:
            raise forms.ValidationError(
                "Either tick “credit the whole invoice” or give amounts per line, not both."
            )
        if not data.get("full") and not requests:
            raise forms.ValidationError(
                "Give an amount on at least one line, or tick “credit the whole invoice”."
            )
        data["lines"] = None if data.get("full") else requests
        return data


def _show_error(form: CreditNoteForm, exc: CreditNoteError) -> None:
    """Put the service's refusal on the field it names (lines[i] -> that line's field)."""
    field, _, text = str(exc).partition(": ")
    match = ERROR_FIELD.match(field)
    if match and text:
        request = form.cleaned_data["lines"][int(match.group(1))]
        form.add_error(LINE_FIELD.format(request.invoice_line_id), text)
    elif field == "reason" and text:
        form.add_error("reason", text)
    else:
        form.add_error(None, text or str(exc))


def invoice_credit_view(model_admin, request, pk):
    """/admin/billing/invoice/<pk>/credit/: Finance issues a credit note
    (billing.issue_creditnote). A GET shows the form and writes nothing."""
    if not request.user.has_perm("billing.issue_creditnote"):  # before looking: no leak
        raise PermissionDenied
    invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
    form = CreditNoteForm(
        request.POST if request.method == "POST" else None,
        initial={"token": uuid.uuid4().hex},
        creditable=line_creditable_alone(invoice),
        currency=invoice.currency,
    )
    if request.method == "POST" and form.is_valid():
        try:
            note, created = credit_note_issue_once(
                invoice_id=invoice.pk,
                reason=form.cleaned_data["reason"],
                lines=form.cleaned_data["lines"],
                reference=form.cleaned_data["token"],
                user=request.user,
            )
        except CreditNoteError as exc:
            _show_error(form, exc)
        else:
            total = f"{format_money(note.total, note.currency)} {note.currency}"
            if created:
                model_admin.message_user(
                    request,
                    f"Credit note {note.number} of {total} issued; it is e-mailed to the "
                    "billing contacts.",
                )
            else:
                model_admin.message_user(
                    request,
                    f"This form was sent already: credit note {note.number} ({total}) was "
                    "issued then; nothing more was issued.",
                    messages.WARNING,
                )
            return HttpResponseRedirect(reverse("admin:billing_invoice_change", args=[pk]))
    return TemplateResponse(
        request,
        "admin/billing/invoice/credit.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "title": f"Issue a credit note for invoice {invoice.number}",
            "invoice": invoice,
            "form": form,
        },
    )


def credit_note_urls(model_admin) -> list:
    view = model_admin.admin_site.admin_view
    return [
        path(
            "<int:pk>/credit/",
            view(lambda request, pk: invoice_credit_view(model_admin, request, pk)),
            name="billing_invoice_credit",
        )
    ]


def _delivery_state(note: CreditNote) -> str:
    """The latest e-mail of the credit note and what became of it (prefetched)."""
    deliveries = list(note.deliveries.all())
    if not deliveries:
        return "—"
    latest = deliveries[0]
    shown = latest.get_state_display()
    if latest.sent_at:
        shown += f" {latest.sent_at:%Y-%m-%d %H:%M}"
    return shown


def _pdf_link(note: CreditNote):
    return format_html(
        '<a href="{}">PDF</a>', reverse("admin:billing_creditnote_pdf", args=[note.pk])
    )


class CreditNoteInline(admin.TabularInline):
    """The invoice page's credit notes: number, date, total, reason, PDF, e-mail."""

    model = CreditNote
    fields = readonly_fields = (
        "number_link",
        "issued_at",
        "total_display",
        "reason",
        "pdf",
        "delivery",
    )
    extra = 0
    can_delete = False
    verbose_name_plural = "Credit notes"
    total_display = money_column("total", code=True, description="total credited")

    def get_queryset(self, request):
        latest = InvoiceDelivery.objects.order_by("-created_at", "-id")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("deliveries", queryset=latest))
            .order_by("issued_at", "id")
        )

    @admin.display(description="number")
    def number_link(self, obj):
        url = reverse("admin:billing_creditnote_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.number)

    @admin.display(description="PDF")
    def pdf(self, obj):
        return _pdf_link(obj)

    @admin.display(description="e-mail")
    def delivery(self, obj):
        return _delivery_state(obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CreditNoteLineInline(admin.TabularInline):
    model = CreditNoteLine
    fields = readonly_fields = ("description", "tax_percent", "amount_display")
    extra = 0
    can_delete = False
    verbose_name_plural = "Credited lines (net)"
    amount_display = money_column("amount", currency="credit_note.currency", description="net")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("credit_note")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CreditNoteTaxInline(CreditNoteLineInline):
    model = CreditNoteTax
    fields = readonly_fields = ("name", "percent", "net_display", "tax_display", "legal_note")
    verbose_name_plural = "Tax reversed per rate"
    net_display = money_column("net", currency="credit_note.currency")
    tax_display = money_column("tax", currency="credit_note.currency")


class CreditNoteDeliveryInline(admin.TabularInline):
    model = InvoiceDelivery
    fk_name = "credit_note"
    fields = readonly_fields = DELIVERY_FIELDS
    extra = 0
    can_delete = False
    verbose_name_plural = "E-mails of this credit note"
    recipients_shown = recipients_shown

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice", "credit_note")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    # The list fits 1366 px (no app sidebar, see its change_list.html): numbers on one
    # line, the issue date short; the reason and the times are on the credit note's page,
    # dates are picked with the date links above the list.
    list_display = (
        "number_shown",
        "invoice_link",
        "customer_name",
        "issued_on",
        "net_display",
        "tax_display",
        "total_display",
    )
    list_display_links = ("number_shown",)
    list_filter = ("currency",)
    issued_on = time_column("issued_at", description="issued", date_only=True)
    list_select_related = ("invoice", "customer")
    search_fields = ("=number", "=invoice__number", "customer__name", "customer__external_id")
    date_hierarchy = "issued_at"
    paginator = CappedCountPaginator
    inlines = [CreditNoteLineInline, CreditNoteTaxInline, CreditNoteDeliveryInline]
    fields = readonly_fields = (
        "pdf_button",
        "number",
        "invoice_link",
        "customer",
        "issued_at",
        "issued_by",
        "currency",
        "reason",
        "net_display",
        "tax_display",
        "total_display",
        "reference",
    )
    actions = ["resend"]
    net_display = money_column("net", code=True)
    tax_display = money_column("tax", code=True)
    total_display = money_column("total", code=True, description="total credited")

    @admin.display(description="invoice", ordering="invoice__number")
    def invoice_link(self, obj):
        url = reverse("admin:billing_invoice_change", args=[obj.invoice_id])
        number = obj.invoice.number
        return format_html('<a href="{}" style="white-space:nowrap">{}</a>', url, number)

    @admin.display(description="number", ordering="number")
    def number_shown(self, obj):
        return format_html('<span style="white-space:nowrap">{}</span>', obj.number)

    @admin.display(description="customer", ordering="customer__name")
    def customer_name(self, obj):
        return obj.customer.name

    @admin.display(description="PDF")
    def pdf_button(self, obj):
        document = CreditNoteDocument.objects.filter(credit_note=obj).defer("content").first()
        url = reverse("admin:billing_creditnote_pdf", args=[obj.pk])
        if document is None:
            return format_html('<a class="button" href="{}">PDF</a> (not rendered yet)', url)
        return format_html(
            '<a class="button" href="{}">PDF</a> <span>SHA-256 <code>{}</code>, {} bytes</span>',
            url,
            document.sha256,
            document.size,
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/pdf/", view(self.pdf_view), name="billing_creditnote_pdf"),
            path("<int:pk>/print/", view(self.print_view), name="billing_creditnote_print"),
            *super().get_urls(),
        ]

    def _note(self, request, pk) -> CreditNote:
        note = get_object_or_404(CreditNote.objects.select_related("invoice"), pk=pk)
        if not self.has_view_permission(request, note):
            raise PermissionDenied
        return note

    def pdf_view(self, request, pk):
        return credit_note_pdf_response(request, self._note(request, pk))

    def print_view(self, request, pk):
        note = self._note(request, pk)
        return TemplateResponse(request, "billing/credit_note.html", credit_note_context(note))

    @admin.action(description="Resend the credit note e-mail", permissions=["resend"])
    def resend(self, request, queryset):
        numbers = []
        for note in queryset.order_by("pk"):
            credit_note_resend(credit_note_id=note.pk, user=request.user)
            numbers.append(note.number)
        self.message_user(
            request,
            f"Queued the e-mail of {', '.join(numbers)}; see Invoice deliveries for when "
            "it is sent.",
        )

    def has_resend_permission(self, request):
        return request.user.has_perm("billing.resend_invoice")
