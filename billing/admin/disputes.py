"""Disputes in the admin: the list (customer, invoice, state, source, outcomes, credit),
a dispute's page with its outcomes and Accept / Reject (POST, `billing.resolve_dispute`:
Finance), opening one (`billing.add_dispute`: account managers)
from outcomes picked in the signals list, and each invoice's disputes."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from billing.disputes import dispute_accept, dispute_open, dispute_reject
from billing.errors import DisputeError
from billing.models import Dispute, DisputedOutcome
from billing.money import format_money
from config.admin_tools import ReadOnlyAdmin, time_column
from customers.models import Customer

RESOLVE = "billing.resolve_dispute"


def credit_display(dispute) -> str:
    note = dispute.credit_note
    if note is None:
        return "—"
    return f"{format_money(note.net, note.currency)} {note.currency} ({note.number})"


class DisputedOutcomeInline(admin.TabularInline):
    model = DisputedOutcome
    fields = ("signal", "occurred_at", "reason", "credited_display")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("signal", "dispute__customer")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="occurred at")
    def occurred_at(self, obj):
        return obj.signal.occurred_at

    @admin.display(description="credited (net)")
    def credited_display(self, obj):
        if obj.credited is None:
            return "—"
        return format_money(obj.credited, obj.dispute.customer.currency)


class OpenDisputeForm(forms.Form):
    customer = forms.CharField(label="Customer external id")
    signals = forms.CharField(
        label="Outcomes (signal ids)",
        help_text="Signal ids, separated by commas or spaces: pick them in Agents › Signals "
        "with the action “Dispute the selected outcomes”.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))

    def clean_customer(self):
        external_id = self.cleaned_data["customer"].strip()
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None:
            raise forms.ValidationError(f"No customer has the external id “{external_id}”.")
        return customer

    def clean_signals(self):
        parts = self.cleaned_data["signals"].replace(",", " ").split()
        try:
            return [int(p) for p in parts]
        except ValueError:
            raise forms.ValidationError("Give signal ids (numbers), e.g. 12, 15.") from None


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "customer",
        "invoice_number",
        "state",
        "source",
        "outcomes_count",
        "credit",
        "opened",
    )
    # Fits 1366 px (no app sidebar): the date short, dates picked with the links above.
    list_filter = ("state", "source")
    date_hierarchy = "opened_at"
    opened = time_column("opened_at", description="opened", date_only=True)
    list_select_related = ("customer", "invoice", "credit_note")
    search_fields = ("=invoice__number", "=customer__external_id", "customer__name")
    inlines = [DisputedOutcomeInline]
    fields = readonly_fields = (
        "customer",
        "invoice",
        "state",
        "source",
        "reason",
        "opened_at",
        "opened_by",
        "resolved_at",
        "resolved_by_display",
        "resolution_note",
        "credit",
    )
    change_form_template = "admin/billing/dispute/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_outcomes=Count("outcomes"))

    @admin.display(description="invoice", ordering="invoice__number")
    def invoice_number(self, obj):
        return obj.invoice.number if obj.invoice_id else "not billed yet"

    @admin.display(description="outcomes", ordering="_outcomes")
    def outcomes_count(self, obj):
        return obj._outcomes

    @admin.display(description="credit (net)")
    def credit(self, obj):
        return credit_display(obj)

    @admin.display(description="resolved by")
    def resolved_by_display(self, obj):
        if obj.resolved_by_id:
            return obj.resolved_by
        return "automatically" if obj.state == Dispute.State.ACCEPTED else "—"

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("billing.add_dispute")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/resolve/", view(self.resolve_view), name="billing_dispute_resolve"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = OpenDisputeForm(request.POST or None, initial=request.GET.dict())
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                dispute = dispute_open(
                    customer_id=data["customer"].pk,
                    signal_ids=data["signals"],
                    reason=data["reason"],
                    user=request.user,
                )
            except DisputeError as exc:
                field, _, text = str(exc).partition(": ")
                form.add_error("signals" if field == "outcome" else field, text)
            else:
                self.message_user(request, f"Dispute {dispute.pk} is open.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:billing_dispute_change", args=[dispute.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Open a dispute",
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/dispute/open.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_resolve": request.user.has_perm(RESOLVE)}
        return super().change_view(request, object_id, form_url, extra_context)

    def resolve_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        return _resolve(self, request, pk)


def _resolve(model_admin, request, pk):
    """Accept or reject (the button pressed), with the note; a refusal is shown on the
    dispute's page and changes nothing."""
    if not request.user.has_perm(RESOLVE):
        raise PermissionDenied
    dispute = get_object_or_404(Dispute, pk=pk)
    note = request.POST.get("note", "")
    page = reverse("admin:billing_dispute_change", args=[dispute.pk])
    try:
        if "accept" in request.POST:
            dispute = dispute_accept(dispute_id=dispute.pk, user=request.user, note=note)
            if dispute.credit_note:
                text = f"Dispute {dispute.pk} accepted: credit note {credit_display(dispute)}."
            else:
                text = (
                    f"Dispute {dispute.pk} accepted without a credit note: its outcomes "
                    "added nothing to an invoice (or were not billed yet), and they are "
                    "never billed."
                )
        elif "reject" in request.POST:
            dispute = dispute_reject(dispute_id=dispute.pk, user=request.user, note=note)
            text = f"Dispute {dispute.pk} rejected; its outcomes stay billed."
        else:
            raise DisputeError("Press Accept or Reject.")
    except DisputeError as exc:
        model_admin.message_user(request, str(exc), messages.ERROR)
    else:
        model_admin.message_user(request, text, messages.SUCCESS)
    return HttpResponseRedirect(page)


class InvoiceDisputeInline(admin.TabularInline):
    """An invoice's disputes, on its page."""

    model = Dispute
    fk_name = "invoice"
    fields = ("dispute_link", "state", "source", "opened_at", "credit")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "disputes"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("credit_note")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="dispute")
    def dispute_link(self, obj):
        url = reverse("admin:billing_dispute_change", args=[obj.pk])
        return format_html('<a href="{}">Dispute {}</a>', url, obj.pk)

    @admin.display(description="credit (net)")
    def credit(self, obj):
        return credit_display(obj)
