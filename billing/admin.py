import csv
import json
from itertools import pairwise

import nested_admin
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Q, Subquery
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from agents.models import Agent
from billing.models import (
    BillingPeriod,
    ExchangeRate,
    Invoice,
    InvoiceLine,
    MarginAlert,
    MarginFigure,
    OutcomeCriterion,
    OutcomeDefinition,
    Price,
    PriceAgreement,
    PriceTier,
    WebhookDelivery,
    tier_problems,
)
from billing.pricing import ZERO, round_line
from billing.selectors import margin_dashboard, margin_figures, outcome_preview
from billing.services import (
    ClosingError,
    billing_periods_ensure,
    close_period,
    invoice_void_and_reissue,
)
from billing.statements import statement_token
from config.admin_tools import DECIMAL_WIDGETS
from customers.models import Customer


# --- Outcome definitions -------------------------------------------------------------
class CriterionForm(forms.ModelForm):
    value = forms.CharField(
        required=False,
        help_text='JSON or plain text: resolved, 3, true, ["a", "b"].',
        widget=forms.TextInput(attrs={"size": 30}),
    )

    class Meta:
        model = OutcomeCriterion
        fields = ("kind", "field_path", "operator", "value")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["value"] = json.dumps(self.instance.value)

    def clean_value(self):
        raw = (self.cleaned_data.get("value") or "").strip()
        if raw == "":
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw  # plain text is a string


class CriterionInline(admin.TabularInline):
    model = OutcomeCriterion
    form = CriterionForm
    extra = 1


@admin.register(OutcomeDefinition)
class OutcomeDefinitionAdmin(SimpleHistoryAdmin):
    formfield_overrides = DECIMAL_WIDGETS
    list_display = ("name", "agent", "event_name", "partial_rule", "per_workflow")
    list_filter = ("agent", "partial_rule", "per_workflow")
    list_select_related = ("agent",)
    search_fields = ("name", "event_name", "agent__external_id")
    inlines = [CriterionInline]
    readonly_fields = ("preview_link",)
    fieldsets = (
        (None, {"fields": ("agent", "name", "event_name", "description", "per_workflow")}),
        (
            "Partial success",
            {
                "fields": (
                    "partial_rule",
                    "partial_fraction",
                    "ratio_numerator_field",
                    "ratio_denominator_field",
                )
            },
        ),
        ("Try it", {"fields": ("preview_link",)}),
    )

    @admin.display(description="preview")
    def preview_link(self, obj):
        if not obj.pk:
            return "Save the definition, then preview its criteria against recent signals."
        url = reverse("admin:billing_outcomedefinition_preview", args=[obj.pk])
        return format_html(
            '<a class="button" href="{}">Preview against the agent\'s latest 200 signals</a>', url
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="billing_outcomedefinition_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request, object_id):
        definition = get_object_or_404(
            OutcomeDefinition.objects.select_related("agent"), pk=object_id
        )
        if not self.has_view_permission(request, definition):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Preview of {definition.name}",
            "definition": definition,
            "criteria": definition.criteria.all(),
            "counts": outcome_preview(definition=definition),
        }
        return TemplateResponse(request, "admin/billing/outcomedefinition/preview.html", context)


# --- Price agreements ------------------------------------------------------------------
class TierFormSet(nested_admin.NestedInlineFormSet):
    def clean(self):
        super().clean()
        live = [
            f
            for f in self.forms
            if f.has_changed() or f.instance.pk
            if not self._should_delete_form(f) and hasattr(f, "cleaned_data")
        ]
        price = self.instance
        tiered = price.model in Price.TIERED
        if not tiered and live:
            raise ValidationError(
                "Tiers apply only to graduated or volume prices: remove them, or change the model."
            )
        if tiered and not live:
            raise ValidationError(
                f"A {price.get_model_display().split(' (')[0].lower()} price needs at least one "
                "tier: add one starting at 0 with no upper bound."
            )
        rows = [
            (
                f.cleaned_data.get("from_quantity"),
                f.cleaned_data.get("up_to_quantity"),
                f.cleaned_data.get("unit_price"),
            )
            for f in live
        ]
        for index, field, message in tier_problems(rows):
            live[index].add_error(field, message)


class PriceTierInline(nested_admin.NestedTabularInline):
    formfield_overrides = DECIMAL_WIDGETS
    model = PriceTier
    formset = TierFormSet
    extra = 0
    fields = ("from_quantity", "up_to_quantity", "unit_price")
    ordering = ("from_quantity",)


class PriceFormSet(nested_admin.NestedInlineFormSet):
    """Rejects a price whose outcome the customer already has in an overlapping agreement."""

    def clean(self):
        super().clean()
        agreement = self.instance
        if not (agreement.customer_id and agreement.starts_on):
            return
        overlapping = PriceAgreement.objects.filter(customer_id=agreement.customer_id).filter(
            Q(ends_on__isnull=True) | Q(ends_on__gte=agreement.starts_on)
        )
        if agreement.ends_on:
            overlapping = overlapping.filter(starts_on__lte=agreement.ends_on)
        if agreement.pk:
            overlapping = overlapping.exclude(pk=agreement.pk)
        taken = {
            p.outcome_definition_id: p.agreement
            for p in Price.objects.filter(agreement__in=overlapping).select_related("agreement")
        }
        for form in self.forms:
            if self._should_delete_form(form) or not hasattr(form, "cleaned_data"):
                continue
            outcome = form.cleaned_data.get("outcome_definition")
            other = taken.get(outcome.pk) if outcome else None
            if other:
                ends = other.ends_on or "no end"
                form.add_error(
                    "outcome_definition",
                    f"This customer's agreement “{other.name}” ({other.starts_on} – {ends}) "
                    "already prices this outcome and overlaps these dates. Change the dates "
                    "or end the other agreement first.",
                )


class PriceInline(nested_admin.NestedStackedInline):
    formfield_overrides = DECIMAL_WIDGETS
    model = Price
    formset = PriceFormSet
    inlines = [PriceTierInline]
    extra = 0
    autocomplete_fields = ("outcome_definition",)
    fields = (
        ("outcome_definition", "model"),
        ("unit_price", "included_quantity"),
        ("percent_of_value", "value_field"),
        "markup_percent",
    )


@admin.register(PriceAgreement)
class PriceAgreementAdmin(SimpleHistoryAdmin, nested_admin.NestedModelAdmin):
    formfield_overrides = DECIMAL_WIDGETS
    list_display = (
        "name",
        "customer",
        "currency",
        "starts_on",
        "ends_on",
        "cadence",
        "platform_fee",
        "margin_target",
        "margin_flag",
    )

    def get_queryset(self, request):
        below = MarginFigure.objects.filter(
            agreement=OuterRef("pk"), below_target=True, invoice__status="issued"
        )
        return super().get_queryset(request).annotate(_below=Exists(below))

    @admin.display(description="margin", boolean=False, ordering="_below")
    def margin_flag(self, obj):
        if obj._below:
            url = (
                reverse("admin:billing_marginfigure_changelist")
                + f"?customer={obj.customer.external_id}"
            )
            return format_html(
                '<a href="{}" style="color:#b91c1c;font-weight:600">⚠ below target</a>', url
            )
        return "—"

    list_filter = ("cadence", "currency")
    list_select_related = ("customer",)
    search_fields = ("name", "customer__name", "customer__external_id")
    autocomplete_fields = ("customer",)
    inlines = [PriceInline]
    fieldsets = (
        (None, {"fields": ("customer", "name", "currency", ("starts_on", "ends_on"), "cadence")}),
        (
            "Per period",
            {"fields": ("platform_fee", "minimum_commitment", "spend_cap", "grace_period")},
        ),
        ("Terms", {"fields": ("payment_terms_days", "margin_target", "notes")}),
        ("Upcoming invoice", {"fields": ("upcoming_invoice",)}),
    )
    readonly_fields = ("upcoming_invoice",)

    @admin.display(description="open period, computed live")
    def upcoming_invoice(self, obj):
        if not obj.pk:
            return "Save the agreement to see its upcoming invoice."
        now = timezone.now()
        billing_periods_ensure(agreement=obj, until=now)
        period = obj.periods.filter(state="open", starts_at__lte=now).order_by("-starts_at").first()
        if period is None:
            return "No open period."
        try:
            draft = close_period(period_id=period.pk, dry_run=True)
        except ClosingError as exc:
            return format_html('<span style="color:#b91c1c">Cannot be closed: {}</span>', exc)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td style='text-align:right'>{}</td></tr>",
            ((line.description, line.amount) for line in draft.lines),
        )
        revenue = sum((m.revenue for m in draft.margins), ZERO)
        margin = sum((m.margin for m in draft.margins), ZERO)
        percent = f"{margin / revenue * 100:.1f}%" if revenue else "—"
        below = any(m.below_target for m in draft.margins)
        return format_html(
            "<p>{} – {} (so far)</p><table id='upcoming-invoice'>{}<tr><th>Total</th>"
            "<th style='text-align:right'>{} {}</th></tr></table>"
            "<p id='live-margin'>Live margin of this open period: <strong{}>{}</strong>{}</p>",
            f"{period.starts_at:%Y-%m-%d}",
            f"{period.ends_at:%Y-%m-%d}",
            rows,
            draft.total,
            draft.currency,
            format_html(' style="color:{}"', "#b91c1c") if below else "",
            percent,
            " — below the margin target" if below else "",
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        billing_periods_ensure(agreement=form.instance, until=timezone.now())
        for price in form.instance.prices.filter(model=Price.Model.VOLUME):
            tiers = list(price.tiers.order_by("from_quantity"))
            for before, after in pairwise(tiers):
                boundary = after.from_quantity
                below = (boundary - 1) * before.unit_price
                at = boundary * after.unit_price
                if boundary >= 1 and at < below:
                    messages.warning(
                        request,
                        f"Volume pricing of “{price.outcome_definition.name}”: the total drops at "
                        f"{boundary} outcomes ({boundary - 1} cost {below:.2f}, {boundary} cost "
                        f"{at:.2f}). That is how volume tiers work; use graduated tiers if the "
                        "total should never fall.",
                    )


@admin.register(ExchangeRate)
class ExchangeRateAdmin(SimpleHistoryAdmin):
    formfield_overrides = DECIMAL_WIDGETS
    list_display = ("base_currency", "quote_currency", "rate", "effective_on")
    list_filter = ("base_currency", "quote_currency")
    date_hierarchy = "effective_on"


# --- Periods and invoices (read-only; changed only through actions) ---------------------
class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BillingPeriod)
class BillingPeriodAdmin(ReadOnlyAdmin):
    list_display = ("agreement", "starts_at", "ends_at", "state", "closed_at", "invoice_link")
    list_filter = ("state", "agreement__cadence")
    list_select_related = ("agreement__customer",)
    search_fields = ("agreement__name", "agreement__customer__external_id")
    actions = ["close_now"]

    def get_queryset(self, request):
        issued = Invoice.objects.filter(period=OuterRef("pk"), status="issued")
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
                invoice = close_period(period_id=period.pk)
            except ClosingError as exc:
                self.message_user(request, f"{period}: not closed: {exc}", messages.ERROR)
                continue
            if invoice is None:
                skipped += 1
            else:
                closed += 1
        self.message_user(request, f"Closed {closed} period(s); {skipped} were already closed.")

    def has_close_permission(self, request):
        return request.user.has_perm("billing.change_billingperiod")


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = ("kind", "description", "successes", "partials", "quantity", "unit_price", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class VoidForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why the invoice is wrong; kept in its history.",
    )


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "customer",
        "period",
        "status",
        "total",
        "currency",
        "issued_at",
        "due_at",
    )
    list_filter = ("status", "currency")
    list_select_related = ("customer", "period__agreement__customer")
    search_fields = ("=number", "customer__name", "customer__external_id")
    inlines = [InvoiceLineInline]
    readonly_fields = (
        "documents",
        "number",
        "customer",
        "period",
        "status",
        "currency",
        "total",
        "issued_at",
        "due_at",
        "replaces",
        "void_reason",
        "voided_at",
        "voided_by",
    )
    actions = ["void_and_reissue", "export_csv"]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Export selected invoices as CSV")
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="invoices.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "number",
                "customer",
                "period_start",
                "period_end",
                "status",
                "currency",
                "total",
                "issued_at",
                "due_at",
            ]
        )
        for inv in queryset.select_related("customer", "period").order_by("number"):
            writer.writerow(
                [
                    inv.number,
                    inv.customer.external_id,
                    inv.period.starts_at.date(),
                    inv.period.ends_at.date(),
                    inv.status,
                    inv.currency,
                    round_line(inv.total, inv.currency),
                    inv.issued_at.isoformat(),
                    inv.due_at.isoformat(),
                ]
            )
        return response

    @admin.display(description="documents")
    def documents(self, obj):
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
        return TemplateResponse(
            request,
            "billing/invoice.html",
            {
                "invoice": invoice,
                "lines": [
                    (line, round_line(line.amount, invoice.currency))
                    for line in invoice.lines.all()
                ],
                "total": round_line(invoice.total, invoice.currency),
            },
        )

    def csv_view(self, request, pk):
        invoice = self._invoice(request, pk)
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="invoice-{invoice.number}.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "invoice",
                "kind",
                "description",
                "successes",
                "partials",
                "quantity",
                "unit_price",
                "amount",
                "currency",
            ]
        )
        for line in invoice.lines.all():
            writer.writerow(
                [
                    invoice.number,
                    line.kind,
                    line.description,
                    line.successes,
                    line.partials,
                    line.quantity.normalize(),
                    "" if line.unit_price is None else line.unit_price.normalize(),
                    round_line(line.amount, invoice.currency),
                    invoice.currency,
                ]
            )
        writer.writerow(
            [
                invoice.number,
                "total",
                "",
                "",
                "",
                "",
                "",
                round_line(invoice.total, invoice.currency),
                invoice.currency,
            ]
        )
        return response

    @admin.action(description="Void and reissue (with a reason)", permissions=["void"])
    def void_and_reissue(self, request, queryset):
        form = VoidForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            done = 0
            for invoice in queryset:
                try:
                    new = invoice_void_and_reissue(
                        invoice_id=invoice.pk, reason=form.cleaned_data["reason"], user=request.user
                    )
                except ClosingError as exc:
                    self.message_user(request, f"Invoice {invoice.number}: {exc}", messages.ERROR)
                    continue
                done += 1
                self.message_user(
                    request, f"Invoice {invoice.number} voided; reissued as {new.number}."
                )
            return None
        return TemplateResponse(
            request,
            "admin/billing/invoice/void.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Void and reissue invoices",
                "invoices": queryset,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def has_void_permission(self, request):
        return request.user.has_perm("billing.void_invoice")


# --- Margins -----------------------------------------------------------------------------
class DashboardFilters(forms.Form):
    date_from = forms.DateField(
        required=False, label="Periods from", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="to", widget=forms.DateInput(attrs={"type": "date"})
    )
    customer = forms.CharField(required=False, label="Customer external id")
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.all(),
        required=False,
        to_field_name="external_id",
        error_messages={"invalid_choice": "Unknown agent: pick one from the list."},
    )

    def clean_customer(self):
        external_id = self.cleaned_data["customer"].strip()
        if not external_id:
            return None
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None:
            raise ValidationError(f"No customer has the external id “{external_id}”.")
        return customer

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end of the range is before its start: swap them.")
        return data


MARGIN_CSV_FIELDS = [
    "period__starts_at",
    "period__ends_at",
    "customer__external_id",
    "agent__external_id",
    "outcome_definition__name",
    "currency",
    "successes",
    "partials",
    "failures",
    "revenue_outcomes",
    "revenue_allocated",
    "revenue",
    "cost",
    "cost_of_failures",
    "margin",
    "margin_percent",
    "reporting_currency",
    "revenue_reporting",
    "cost_reporting",
    "incomplete",
    "missing_rates",
    "below_target",
]


def margins_csv(queryset, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(MARGIN_CSV_FIELDS)
    for row in queryset.values_list(*MARGIN_CSV_FIELDS).iterator():
        writer.writerow(row)
    return response


@admin.register(MarginFigure)
class MarginFigureAdmin(ReadOnlyAdmin):
    """The margin dashboard: the page an account manager opens every morning."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = DashboardFilters(request.GET or None)
        filters = {}
        if form.is_bound and form.is_valid():
            filters = {k: v for k, v in form.cleaned_data.items() if v}
        elif form.is_bound:
            messages.error(request, "Some filters were not understood; showing all margins.")
        if request.GET.get("export") == "csv" and not form.errors:
            figures = margin_figures(**filters).order_by("period__starts_at", "customer__name")
            return margins_csv(figures, "margins.csv")
        data = margin_dashboard(**filters)
        # Decimals go to the page as JSON strings (DjangoJSONEncoder); the script reads them
        # with Number(), so no amount passes through a Python float.
        chart_data = {
            "periods": [r["period"] for r in data["by_period"]],
            "revenue": [r["revenue"] for r in data["by_period"]],
            "cost": [r["cost"] for r in data["by_period"]],
            "agents": [r["name"] for r in data["by_agent"]],
            "agent_margin": [r["margin_percent"] for r in data["by_agent"]],
            "customers": [r["name"] for r in data["by_customer"]],
            "customer_margin": [r["margin_percent"] for r in data["by_customer"]],
            "agent_failures": [r["cost_of_failures"] for r in data["by_agent"]],
            "cost_per_outcome": [
                {"outcome": r["outcome"], "models": {k: v for k, v in r["models"].items()}}
                for r in data["cost_per_outcome"]
            ],
        }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Margin dashboard",
            "form": form,
            "data": data,
            "chart_data": chart_data,
            "reporting_currency": settings.REPORTING_CURRENCY,
            "export_query": request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/billing/margin_dashboard.html", context)


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ("attempt", "url", "status_code", "delivered", "error", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(MarginAlert)
class MarginAlertAdmin(ReadOnlyAdmin):
    list_display = (
        "agreement",
        "period",
        "margin_percent",
        "threshold",
        "created_at",
        "emailed_at",
        "webhook_delivered",
    )
    list_select_related = ("agreement__customer", "period__agreement__customer")
    inlines = [WebhookDeliveryInline]

    def get_queryset(self, request):
        delivered = WebhookDelivery.objects.filter(alert=OuterRef("pk"), delivered=True)
        return super().get_queryset(request).annotate(_delivered=Exists(delivered))

    @admin.display(description="webhook delivered", boolean=True)
    def webhook_delivered(self, obj):
        return obj._delivered
