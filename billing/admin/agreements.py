"""Admin of outcome definitions, price agreements (prices, tiers) and FX rates."""

import json

import nested_admin
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from billing.admin.simulations import simulation_urls
from billing.models import (
    ExchangeRate,
    MarginFigure,
    OutcomeCriterion,
    OutcomeDefinition,
    Price,
    PriceAgreement,
    PriceTier,
    SellerProfile,
)
from billing.money import ZERO, format_money, format_percent, format_quantity, margin_percent
from billing.periods import period_current, periods_create
from billing.pricing import tier_problems, volume_drops
from billing.selectors import agreements_overlapping, outcome_preview
from billing.services import ClosingError, invoice_preview
from config.admin_tools import DECIMAL_WIDGETS, money_column, quantity_column


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
        ("Accounting export", {"fields": ("account_code",)}),
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
        live = [
            form
            for form in self.forms
            if not self._should_delete_form(form) and hasattr(form, "cleaned_data")
        ]
        outcomes = [form.cleaned_data.get("outcome_definition") for form in live]
        taken = agreements_overlapping(
            customer=agreement.customer_id,
            outcome_definition_ids=[outcome.pk for outcome in outcomes if outcome],
            starts_on=agreement.starts_on,
            ends_on=agreement.ends_on,
            exclude_pk=agreement.pk,
        )
        for form, outcome in zip(live, outcomes, strict=True):
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
        "tax_rate",
    )


@admin.register(PriceAgreement)
class PriceAgreementAdmin(SimpleHistoryAdmin, nested_admin.NestedModelAdmin):
    formfield_overrides = DECIMAL_WIDGETS
    list_display = (
        "name",
        "customer",
        "starts_on",
        "ends_on",
        "cadence",
        "platform_fee_display",
        "margin_target",
        "margin_flag",
    )
    platform_fee_display = money_column("platform_fee", code=True)

    def get_urls(self):
        return [*simulation_urls(self), *super().get_urls()]

    @admin.display(description="pricing lab")
    def simulate_link(self, obj):
        if not obj.pk:
            return "Save the agreement; once a period is closed, simulate a change of price."
        url = reverse("admin:billing_priceagreement_simulate", args=[obj.pk])
        return format_html(
            '<a class="button" href="{}" id="simulate-link">Simulate a change</a> replays the '
            "closed periods under other prices, read only.",
            url,
        )

    def get_changeform_initial_data(self, request):
        """A new agreement starts with the seller's default payment terms."""
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("payment_terms_days", SellerProfile.current().payment_terms_days)
        return initial

    def get_queryset(self, request):
        below = MarginFigure.objects.live().filter(agreement=OuterRef("pk"), below_target=True)
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
        ("Terms", {"fields": ("payment_terms_days", "tax_rate", "margin_target", "notes")}),
        ("Disputes", {"fields": ("dispute_window_days", "dispute_auto_accept_up_to")}),
        ("Upcoming invoice", {"fields": ("upcoming_invoice", "simulate_link")}),
    )
    readonly_fields = ("upcoming_invoice", "simulate_link")

    @admin.display(description="open period, computed live")
    def upcoming_invoice(self, obj):
        """A preview: reads only (no period is created, nothing is locked)."""
        if not obj.pk:
            return "Save the agreement to see its upcoming invoice."
        period = period_current(agreement=obj, now=timezone.now())
        if period is None or period.state != period.State.OPEN:
            return "No open period."
        try:
            draft = invoice_preview(period=period)
        except ClosingError as exc:
            return format_html('<span style="color:#b91c1c">Cannot be closed: {}</span>', exc)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td style='text-align:right;white-space:nowrap'>{}</td></tr>",
            ((line.description, format_money(line.amount, draft.currency)) for line in draft.lines),
        )
        unsettled = format_html_join(
            "",
            "<li>{} – {}: {}</li>",
            (
                (
                    f"{p.starts_at:%Y-%m-%d}",
                    f"{p.ends_at:%Y-%m-%d}",
                    "voided, awaiting reissue" if p.state == p.State.VOIDED else "not yet closed",
                )
                for p in draft.unsettled
            ),
        )
        revenue = sum((m.revenue for m in draft.margins), ZERO)
        percent = margin_percent(sum((m.margin for m in draft.margins), ZERO), revenue)
        below = any(m.below_target for m in draft.margins)
        cell = "<th style='text-align:right;white-space:nowrap'>{} {}</th>"
        taxes = format_html_join(
            "",
            "<tr><th>{} on {}</th>" + cell + "</tr>",
            (
                (
                    t.rate.name,
                    format_money(t.net, draft.currency),
                    format_money(t.tax, draft.currency),
                    draft.currency,
                )
                for t in draft.taxes
            ),
        )
        if draft.taxes:
            net = format_html(
                "<tr><th>Net</th>" + cell + "</tr>",
                format_money(draft.net, draft.currency),
                draft.currency,
            )
            rows = format_html("{}{}{}", rows, net, taxes)
        return format_html(
            "<p>{} – {} (so far)</p><table id='upcoming-invoice'>{}<tr><th>Total</th>"
            "<th style='text-align:right;white-space:nowrap'>{} {}</th></tr></table>{}"
            "<p id='live-margin'>Live margin of this open period: <strong{}>{}</strong>{}</p>",
            f"{period.starts_at:%Y-%m-%d}",
            f"{period.ends_at:%Y-%m-%d}",
            rows,
            format_money(draft.total, draft.currency),
            draft.currency,
            format_html(
                "<p id='unsettled-periods'>Earlier periods, billed on their own invoices, "
                "not in this one:</p><ul style='margin-left:0;padding-left:1.2em'>{}</ul>",
                unsettled,
            )
            if draft.unsettled
            else "",
            format_html(' style="color:{}"', "#b91c1c") if below else "",
            format_percent(percent),
            " — below the margin target" if below else "",
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        periods_create(agreement=form.instance, until=timezone.now())
        currency = form.instance.currency
        volume = form.instance.prices.filter(model=Price.Model.VOLUME).select_related(
            "outcome_definition"
        )
        for price in volume:
            tiers = price.tiers.order_by("from_quantity").values_list(
                "from_quantity", "up_to_quantity", "unit_price"
            )
            for boundary, below, at in volume_drops(list(tiers)):
                messages.warning(
                    request,
                    f"Volume pricing of “{price.outcome_definition.name}”: the total drops at "
                    f"{format_quantity(boundary)} outcomes ({format_quantity(boundary - 1)} cost "
                    f"{format_money(below, currency)}, {format_quantity(boundary)} cost "
                    f"{format_money(at, currency)} {currency}). That is how volume tiers work; "
                    "use graduated tiers if the total should never fall.",
                )


@admin.register(ExchangeRate)
class ExchangeRateAdmin(SimpleHistoryAdmin):
    formfield_overrides = DECIMAL_WIDGETS
    list_display = ("base_currency", "quote_currency", "rate_display", "effective_on")
    rate_display = quantity_column("rate")
    list_filter = ("base_currency", "quote_currency")
    date_hierarchy = "effective_on"
