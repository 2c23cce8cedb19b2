"""The pricing lab's forms: the range of closed periods and the proposed changes to an
agreement and its prices. They are read from the query string: a simulation is a read,
so its page, its CSV and a link to it are one GET."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError

from billing.models import BillingPeriod, OutcomeDefinition, Price, PriceAgreement
from billing.money import format_quantity
from billing.simulated_partials import NOT_CHARGED, Ratio
from billing.simulations import AGREEMENT_FIELDS

TIERS_HELP = (
    "One tier a line, lowest first: “up to 100 @ 1.00”, “up to 500 @ 0.80”, and last "
    "“above @ 0.50”. An upper bound is included in its tier: up to 100 puts the 100th "
    "outcome there."
)
DECIMAL = {"max_digits": 20, "decimal_places": 8, "required": False}


def plain(value):
    """A stored Decimal as a person types it: 2000.00000000 -> 2000, 0E-8 -> 0."""
    return format(value.normalize(), "f") if isinstance(value, Decimal) else value


def period_label(period: BillingPeriod) -> str:
    return f"{period.starts_at:%Y-%m-%d} – {period.ends_at:%Y-%m-%d}"


def tiers_text(price: Price) -> str:
    lines = []
    for tier in price.tiers.all():
        unit = format_quantity(tier.unit_price)
        if tier.up_to_quantity is None:
            lines.append(f"above @ {unit}")
        else:
            lines.append(f"up to {format_quantity(tier.up_to_quantity)} @ {unit}")
    return "\n".join(lines)


def tiers_parse(text: str) -> list[tuple]:
    """(above, up to or None, unit price) rows from tiers_text's format; a line that is
    not one says which and how it should read."""
    rows, start = [], Decimal(0)
    for number, raw in enumerate((line for line in text.splitlines() if line.strip()), 1):
        bound, at, unit = raw.partition("@")
        bound = bound.strip().lower().removeprefix("up to").strip()
        try:
            if not at:
                raise InvalidOperation
            unit_price = Decimal(unit.strip().replace(",", ""))
            end = None if bound.startswith("above") else Decimal(bound.replace(",", ""))
            if not (unit_price.is_finite() and (end is None or end.is_finite())):
                raise InvalidOperation
        except InvalidOperation:
            raise ValidationError(
                f"Line {number} (“{raw.strip()[:60]}”) should read “up to 100 @ 1.00”, or "
                "“above @ 0.50” for the last tier."
            ) from None
        rows.append((start, end, unit_price))
        start = end if end is not None else start
    return rows


class RangeForm(forms.Form):
    """The periods to replay, and the proposed per-period terms of the agreement."""

    first = forms.TypedChoiceField(coerce=int, label="From the period")
    last = forms.TypedChoiceField(coerce=int, label="to the period")
    platform_fee = forms.DecimalField(min_value=0, **DECIMAL)
    minimum_commitment = forms.DecimalField(min_value=0, **DECIMAL)
    spend_cap = forms.DecimalField(
        **DECIMAL, help_text="Empty: no cap.", widget=forms.NumberInput(attrs={"step": "any"})
    )

    def __init__(self, data, *, agreement: PriceAgreement, periods: list[BillingPeriod]):
        self.periods = {p.pk: p for p in periods}
        latest = periods[-12:]
        initial = {name: plain(getattr(agreement, name)) for name in AGREEMENT_FIELDS}
        if latest:
            initial |= {"first": latest[0].pk, "last": latest[-1].pk}
        super().__init__(data, initial=initial)
        choices = [(p.pk, period_label(p)) for p in periods]
        self.fields["first"].choices = self.fields["last"].choices = choices
        self.agreement = agreement

    def clean(self):
        data = super().clean()
        first, last = data.get("first"), data.get("last")
        periods = self.periods
        if (
            first in periods
            and last in periods
            and periods[first].starts_at > periods[last].starts_at
        ):
            self.add_error("last", "The last period must not come before the first.")
        return data

    def chosen(self) -> list[BillingPeriod]:
        first = self.periods[self.cleaned_data["first"]].starts_at
        last = self.periods[self.cleaned_data["last"]].starts_at
        return [p for p in self.periods.values() if first <= p.starts_at <= last]

    def changes(self) -> dict:
        return {
            name: self.cleaned_data[name]
            for name in AGREEMENT_FIELDS
            if self.cleaned_data[name] != getattr(self.agreement, name)
        }


class PriceForm(forms.Form):
    """A proposed price for one outcome of the agreement (prefix: its id)."""

    model = forms.ChoiceField(choices=Price.Model.choices)
    unit_price = forms.DecimalField(min_value=0, **DECIMAL, label="Unit price")
    tiers = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 28}), help_text=TIERS_HELP
    )
    included_quantity = forms.DecimalField(min_value=0, **DECIMAL, label="Included free")
    percent_of_value = forms.DecimalField(min_value=0, **DECIMAL, label="% of value")
    value_field = forms.CharField(
        required=False, max_length=200, label="Value field", help_text="e.g. recovered_amount"
    )
    markup_percent = forms.DecimalField(min_value=-100, **DECIMAL, label="Markup %")
    partial_rule = forms.ChoiceField(
        required=False,
        choices=OutcomeDefinition.PartialRule.choices,
        label="Partials",
        help_text="The outcome definition's rule, for every customer: simulated as this "
        "agreement's only.",
    )
    partial_fraction = forms.DecimalField(
        min_value=0, max_value=1, **DECIMAL, label="Partial fraction", help_text="e.g. 0.4"
    )
    ratio_numerator_field = forms.CharField(
        required=False, max_length=200, label="Ratio numerator", help_text="e.g. steps_done"
    )
    ratio_denominator_field = forms.CharField(
        required=False, max_length=200, label="Ratio denominator", help_text="e.g. steps_total"
    )

    FIELDS = (
        "model",
        "unit_price",
        "included_quantity",
        "percent_of_value",
        "value_field",
        "markup_percent",
    )

    def __init__(self, data, *, price: Price):
        initial = {name: plain(getattr(price, name)) for name in self.FIELDS}
        initial["tiers"] = tiers_text(price) if price.model in Price.TIERED else ""
        definition = price.outcome_definition
        initial["partial_rule"] = definition.partial_rule
        initial["partial_fraction"] = plain(definition.partial_fraction)
        initial["ratio_numerator_field"] = definition.ratio_numerator_field
        initial["ratio_denominator_field"] = definition.ratio_denominator_field
        super().__init__(data, initial=initial, prefix=f"price-{price.pk}")
        self.price = price

    def clean_tiers(self):
        return tiers_parse(self.cleaned_data["tiers"])

    def clean(self):
        data = super().clean()
        definition = self.price.outcome_definition
        # Not sent (a link from before partial rules could be simulated): as stored.
        rule = data.get("partial_rule") or definition.partial_rule
        if data.get("partial_fraction") is None and rule == definition.partial_rule:
            data["partial_fraction"] = definition.partial_fraction
        data["partial_rule"] = rule
        if rule == definition.PartialRule.RATIO:
            for name, example in (
                ("ratio_numerator_field", "steps_done"),
                ("ratio_denominator_field", "steps_total"),
            ):
                # Not sent: as stored; sent empty: refused below.
                if self.add_prefix(name) not in self.data:
                    data[name] = getattr(definition, name)
                if not (data.get(name) or "").strip():
                    self.add_error(name, f"Name the signal's data field, e.g. {example}.")
        if rule == definition.PartialRule.FIXED and data.get("partial_fraction") is None:
            self.add_error("partial_fraction", "Give the fraction partials are charged, e.g. 0.4.")
        return data

    def partial_fraction_changed(self) -> Decimal | Ratio | str | None:
        """The fraction partials would be charged at (a Ratio for a ratio rule), if the
        rule, fraction or ratio fields changed."""
        definition = self.price.outcome_definition
        rule, fraction = self.cleaned_data["partial_rule"], self.cleaned_data["partial_fraction"]
        if rule == definition.PartialRule.RATIO:
            ratio = Ratio(
                self.cleaned_data["ratio_numerator_field"].strip(),
                self.cleaned_data["ratio_denominator_field"].strip(),
            )
            stored = Ratio(definition.ratio_numerator_field, definition.ratio_denominator_field)
            return None if rule == definition.partial_rule and ratio == stored else ratio
        if rule == definition.partial_rule and (
            rule != definition.PartialRule.FIXED or fraction == definition.partial_fraction
        ):
            return None
        return NOT_CHARGED if rule == definition.PartialRule.NONE else fraction

    def changes(self) -> dict:
        """The fields that differ from the stored price, and the tiers of a tiered one."""
        data = self.cleaned_data
        change = {
            name: data[name] for name in self.FIELDS if data[name] != getattr(self.price, name)
        }
        if data["model"] in Price.TIERED:
            current = [
                (t.from_quantity, t.up_to_quantity, t.unit_price) for t in self.price.tiers.all()
            ]
            if change.get("model") or data["tiers"] != current:
                change["tiers"] = data["tiers"]
        return change
