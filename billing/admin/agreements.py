"""Admin of price agreements: prices, tiers, versions, the upcoming invoice."""

import nested_admin
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from billing.admin.agreement_versions import (
    BILLED_FIXED,
    ENDED,
    AgreementForm,
    frozen,
    has_billed,
    outcome_set_problem,
    versions_timeline,
)
from billing.admin.portfolio import portfolio_urls
from billing.admin.saved_simulations import saved_list
from billing.admin.simulations import simulation_urls
from billing.agreement_changes import periods_rebuild
from billing.models import (
    AgreementVersion,
    MarginFigure,
    Price,
    PriceAgreement,
    PriceTier,
    SellerProfile,
)
from billing.money import ZERO, format_money, format_percent, format_quantity, margin_percent
from billing.periods import period_current, periods_create
from billing.pricing import tier_problems, volume_drops
from billing.rating import prices_of
from billing.selectors import agreements_overlapping
from billing.services import ClosingError, invoice_preview
from billing.version_changes import version_schedule
from billing.versions import terms_read
from config.admin_tools import DECIMAL_WIDGETS, money_column


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
        if frozen(price.agreement) and any(f.has_changed() for f in self.forms):
            raise ValidationError(ENDED)
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
        problem = outcome_set_problem(agreement, {o.pk for o in outcomes if o})
        if problem:
            raise ValidationError(problem)
        if frozen(agreement) and any(f.has_changed() for f in self.forms):
            raise ValidationError(ENDED)
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
    form = AgreementForm

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(name, {**options}) for name, options in self.fieldsets]
        if obj is not None and has_billed(obj) and not frozen(obj):
            fieldsets[1][1]["fields"] = ("effective_from", *fieldsets[1][1]["fields"])
        if obj is not None:
            fieldsets.append(("Versions", {"fields": ("versions",)}))
        return fieldsets

    @admin.display(description="timeline")
    def versions(self, obj):
        return versions_timeline(obj)

    def get_urls(self):
        return [*portfolio_urls(self), *simulation_urls(self), *super().get_urls()]

    @admin.display(description="pricing lab")
    def simulate_link(self, obj):
        if not obj.pk:
            return "Save the agreement; once a period is closed, simulate a change of price."
        url = reverse("admin:billing_priceagreement_simulate", args=[obj.pk])
        saved = format_html_join(
            "",
            '<li><a href="{}">{}</a> ({}, change {})</li>',
            (
                (
                    item["url"],
                    item["saved"].name,
                    f"{item['saved'].created_at:%Y-%m-%d}",
                    item["totals"].get("change", ""),
                )
                for item in saved_list(obj)[:5]
            ),
        )
        return format_html(
            '<a class="button" href="{}" id="simulate-link">Simulate a change</a> replays the '
            "closed periods under other prices, read only.{}",
            url,
            format_html(
                '<div id="saved-simulations" style="margin-top:.4em">Saved simulations '
                '(re-run):<ul style="margin:0;padding-left:1.2em">{}</ul></div>',
                saved,
            )
            if saved
            else "",
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
    readonly_fields = ("upcoming_invoice", "simulate_link", "versions")

    def get_readonly_fields(self, request, obj=None):
        # Its periods were billed on these: a new agreement takes other ones.
        fixed = BILLED_FIXED if obj is not None and has_billed(obj) else ()
        return (*self.readonly_fields, *fixed)

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

    def revert_disabled(self, request, obj=None):
        # A revert would write old terms onto the rows without a version.
        return (obj is not None and has_billed(obj)) or super().revert_disabled(request, obj)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        agreement = PriceAgreement.objects.filter(pk=object_id).first()
        if request.method == "POST" and agreement is not None and has_billed(agreement):
            raise PermissionDenied("An agreement with invoices is changed by a new version.")
        return super().history_form_view(request, object_id, version_id, extra_context)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.billed:
            self._version_save(request, form)
        if change and {"starts_on", "ends_on", "cadence"} & set(form.changed_data):
            # The periods nothing was invoiced in follow the new dates, as in PUT orders.
            periods_rebuild(form.instance, now=timezone.now())
        else:
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

    def _version_save(self, request, form):
        """The terms the admin just saved, as a version from the chosen period start
        (the form locked the agreement and checked the date)."""
        agreement = PriceAgreement.objects.get(pk=form.instance.pk)
        after = terms_read(agreement, prices_of(agreement))
        start = form.cleaned_data.get("effective_from")
        if after == form.terms_before or start is None:
            return
        version = version_schedule(
            agreement_id=agreement.pk,
            effective_from=start,
            terms=after,
            original=form.terms_before,
            source=AgreementVersion.Source.ADMIN,
            user=request.user,
        )
        if version is not None:
            messages.success(
                request,
                f"Saved as version {version.number}: these terms take effect on "
                f"{version.effective_from:%Y-%m-%d}. The periods before it keep billing at "
                "the prices they started with (see the timeline).",
            )
