"""Agreement versions in the admin: when a change to an agreement that has billed takes
effect (a field of the agreement's form), the version it is saved as, and the versions
on a timeline on the agreement's page (billing/version_changes.py does the writing)."""

import copy
from datetime import datetime, timedelta

from django import forms
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from billing.agreement_changes import agreement_locked, billed_until, cut_period_extension_refuse
from billing.models import AgreementVersion, BillingPeriod, Invoice, OutcomeDefinition, Price
from billing.money import format_money, format_quantity
from billing.rating import prices_of
from billing.version_changes import boundaries_open, boundary_problem
from billing.versions import terms_read
from customers.errors import ConflictError


def has_billed(agreement) -> bool:
    return bool(agreement and agreement.pk) and (
        Invoice.objects.filter(period__agreement=agreement).exists()
    )


def frozen(agreement) -> bool:
    """Billed and no period left to change prices from (the agreement has ended)."""
    return has_billed(agreement) and not boundaries_open(agreement, timezone.now(), count=1)


class AgreementForm(forms.ModelForm):
    """The agreement's form, with when its new terms take effect once it has billed."""

    effective_from = forms.TypedChoiceField(
        required=False,
        coerce=datetime.fromisoformat,
        label="New prices take effect from",
        help_text="This agreement has invoices: a change of its fee, minimum, cap or "
        "prices is saved as a new version from a period start; the periods before keep "
        "billing at the prices they started with.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.billed = has_billed(self.instance)
        self.terms_before = None
        field = self.fields["effective_from"]
        if self.billed:
            starts = boundaries_open(self.instance, timezone.now())
            field.choices = [
                (start.isoformat(), f"{start:%Y-%m-%d}" + (" (next period)" if i == 0 else ""))
                for i, start in enumerate(starts)
            ]
            if starts:
                field.initial = starts[0].isoformat()
                field.required = True

    def clean(self):
        data = super().clean()
        if not self.instance.pk:
            return data
        # Locked until the admin's transaction ends: a close of this agreement waits, so
        # whether it billed, and the date checked here, still hold when it is saved.
        agreement, billed = agreement_locked(self.instance.pk)
        if billed and not self.billed:
            self.add_error(
                None,
                "This agreement was invoiced while you edited it: its prices now change "
                "from a period start. Reload the page, choose when, and save again.",
            )
        if not self.billed:
            return data
        if "ends_on" in self.changed_data and "ends_on" not in self.errors:
            problem = end_problem(agreement, data.get("ends_on"))
            if problem:
                self.add_error("ends_on", problem)
        self.terms_before = terms_read(agreement, prices_of(agreement))
        start = data.get("effective_from")
        terms_changed = {"platform_fee", "minimum_commitment", "spend_cap"} & set(self.changed_data)
        if not self.fields["effective_from"].choices and terms_changed:
            self.add_error(None, ENDED)
        if start:
            problem = boundary_problem(agreement, start, timezone.now())
            if problem:
                self.add_error("effective_from", problem)
        return data


# What a billed agreement keeps: its invoiced periods were cut by them (read-only then).
BILLED_FIXED = ("customer", "currency", "starts_on", "cadence")


def end_problem(agreement, ends_on) -> str | None:
    """What is wrong with a billed agreement's new last day `ends_on` (None: open-ended):
    before the end of a billed period, extending a billed period its old end cut, or
    before a scheduled version begins (it would never bill)."""
    scheduled = (
        AgreementVersion.objects.filter(agreement=agreement, effective_from__date__gt=ends_on)
        .order_by("effective_from")
        .first()
        if ends_on is not None
        else None
    )
    if scheduled is not None:
        return (
            f"Version {scheduled.number} takes effect on {scheduled.effective_from:%Y-%m-%d}, "
            "after this end: it would never bill. End the agreement on or after that day."
        )
    until = billed_until(agreement)
    if until is None:
        return None
    last_day = until.date() - timedelta(days=1)
    if ends_on is not None and ends_on < last_day:
        return (
            f"A period up to {last_day:%Y-%m-%d} was invoiced: the agreement ends no earlier "
            f"than {last_day:%Y-%m-%d}."
        )
    extended = copy.copy(agreement)
    extended.ends_on = ends_on
    try:
        cut_period_extension_refuse(extended, until)
    except ConflictError:
        return (
            f"The period invoiced up to {last_day:%Y-%m-%d} was cut short by the old end: "
            "the days after it would never be billed. Keep this end, and price what follows "
            "in a new agreement."
        )
    return None


ENDED = (
    "This agreement has invoices and no period left to change its prices from: its fee, "
    "minimum, cap and prices stay as they are (extend its end date first, or price what "
    "follows in a new agreement)."
)


def outcome_set_problem(agreement, outcome_ids: set[int]) -> str | None:
    """A billed agreement's versions price the same outcomes."""
    if not has_billed(agreement):
        return None
    stored = set(
        Price.objects.filter(agreement=agreement).values_list("outcome_definition_id", flat=True)
    )
    if outcome_ids == stored:
        return None
    return (
        "This agreement has invoices, and each of its versions prices the same outcomes: "
        "keep its outcomes (change their prices), and price another outcome in an agreement "
        "of its own."
    )


# --- The timeline ----------------------------------------------------------------------
def _amount(value, currency):
    return "—" if value is None else format_money(value, currency)


def terms_summary(terms: dict, currency: str, names: dict) -> str:
    """“fee 10.00 · Doc: per outcome 6.00 · Ticket: graduated up to 100 @ 1.00, …”."""
    parts = [f"fee {_amount(terms['platform_fee'], currency)}"]
    if terms["minimum_commitment"] not in (None, "0"):
        parts.append(f"minimum {_amount(terms['minimum_commitment'], currency)}")
    if terms["spend_cap"] is not None:
        parts.append(f"cap {_amount(terms['spend_cap'], currency)}")
    for outcome_id, price in sorted(
        terms["prices"].items(), key=lambda i: names.get(int(i[0]), "")
    ):
        model = Price.Model(price["model"])
        what = model.label.split(" (")[0].lower()
        if model == Price.Model.PER_OUTCOME:
            what += f" {format_money(price['unit_price'])}"
        elif model in Price.TIERED:
            what += " " + ", ".join(
                (f"up to {format_quantity(hi)}" if hi is not None else "above")
                + f" @ {format_money(unit)}"
                for _, hi, unit in price["tiers"]
            )
        elif model == Price.Model.PERCENT_OF_VALUE:
            what += f" {format_quantity(price['percent_of_value'])}% of {price['value_field']}"
        elif price.get("markup_percent") is not None:
            what += f" +{format_quantity(price['markup_percent'])}%"
        if price["included_quantity"] not in (None, "0"):
            what += f", {format_quantity(price['included_quantity'])} included"
        parts.append(f"{names.get(int(outcome_id), outcome_id)}: {what}")
    return " · ".join(parts)


def versions_timeline(agreement) -> str:
    versions = list(
        AgreementVersion.objects.filter(agreement=agreement)
        .select_related("created_by")
        .order_by("effective_from")
    )
    if not versions:
        return format_html(
            '<p id="agreement-versions">{}</p>',
            "One set of terms so far. Once a period is invoiced, a change of the fee, "
            "minimum, cap or prices is saved as a new version from a period start, and "
            "shown here.",
        )
    now = timezone.now()
    names = dict(
        OutcomeDefinition.objects.filter(prices__agreement=agreement).values_list("pk", "name")
    )
    periods = BillingPeriod.objects.filter(agreement=agreement)
    rows = []
    for i, version in enumerate(versions):
        until = versions[i + 1].effective_from if i + 1 < len(versions) else None
        under = periods.filter(starts_at__gte=version.effective_from)
        if until is not None:
            under = under.filter(starts_at__lt=until)
        invoiced = under.aggregate(n=Count("pk", filter=Q(invoices__isnull=False), distinct=True))[
            "n"
        ]
        if version.effective_from > now:
            state = "scheduled"
        elif until is None or until > now:
            state = "in effect"
        else:
            state = "past"
        rows.append(
            (
                "#0f766e" if state == "in effect" else "#9ca3af" if state == "past" else "#2563eb",
                version.number,
                f"{version.effective_from:%Y-%m-%d}",
                f"until {until:%Y-%m-%d}" if until else "onwards",
                state,
                f"{invoiced} period{'s' if invoiced != 1 else ''} invoiced",
                terms_summary(version.terms, agreement.currency, names),
                version.get_source_display()
                + (f" ({version.note})" if version.note else "")
                + (f" by {version.created_by}" if version.created_by else "")
                + f", {version.created_at:%Y-%m-%d %H:%M}",
            )
        )
    items = format_html_join(
        "",
        "<li style='border-left:4px solid {};padding:2px 0 6px 10px;margin:0 0 6px;"
        "list-style:none'><strong>Version {}</strong> from {} {} — <em>{}</em>, {}<br>"
        "{}<br><span class='help' style='margin:0;padding:0'>{}</span></li>",
        rows,
    )
    return format_html('<ol id="agreement-versions" style="margin:0;padding:0">{}</ol>', items)
