"""The portfolio change's form: what changes, over which periods, and what counts as a
large increase. Read from the query string (a simulation is a GET)."""

from datetime import date, datetime

from django import forms
from django.utils import timezone

from billing.admin.simulation_forms import DECIMAL, TIERS_HELP, tiers_parse
from billing.models import OutcomeDefinition, Price, PriceAgreement
from billing.periods import midnight
from billing.portfolio import Kind, PortfolioChange


def _months_back(day: date, months: int) -> date:
    month = day.month - 1 - months
    return date(day.year + month // 12, month % 12 + 1, 1)


class PortfolioForm(forms.Form):
    kind = forms.ChoiceField(choices=Kind.choices, label="Change")
    outcome = forms.ModelChoiceField(
        OutcomeDefinition.objects.select_related("agent").order_by("name"),
        required=False,
        help_text="Every agreement that prices it (for a minimum: leave empty for all).",
    )
    percent = forms.DecimalField(**DECIMAL, label="By %", help_text="e.g. 10 or -5")
    model = forms.ChoiceField(
        choices=[(m, Price.Model(m).label) for m in Price.TIERED], label="Tier model"
    )
    tiers = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 28}), help_text=TIERS_HELP
    )
    amount = forms.DecimalField(min_value=0, **DECIMAL, label="Minimum per period")
    currency = forms.ChoiceField(required=False, help_text="Only agreements in this currency.")
    starts_from = forms.DateField(
        label="Periods from", widget=forms.DateInput(attrs={"type": "date"})
    )
    ends_by = forms.DateField(label="to", widget=forms.DateInput(attrs={"type": "date"}))
    threshold = forms.DecimalField(
        max_digits=9, decimal_places=2, label="Flag increases above %", initial=10
    )

    def __init__(self, data):
        today = timezone.now().date()
        initial = {
            "starts_from": _months_back(today, 12),
            "ends_by": today.replace(day=1),
            "threshold": 10,
            "model": Price.Model.GRADUATED,
        }
        super().__init__(data, initial=initial)
        currencies = PriceAgreement.objects.order_by().values_list("currency", flat=True)
        currencies = set(currencies.distinct())
        self.fields["currency"].choices = [("", "any")] + [(c, c) for c in sorted(currencies)]

    def clean_tiers(self):
        return tiers_parse(self.cleaned_data["tiers"])

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data["starts_from"] >= data["ends_by"]:
            self.add_error("ends_by", "The range must end after it starts.")
        self.change = PortfolioChange(
            kind=data["kind"],
            outcome=data.get("outcome"),
            percent=data.get("percent"),
            model=data.get("model") or Price.Model.GRADUATED,
            tiers=data.get("tiers") or [],
            amount=data.get("amount"),
            currency=data.get("currency") or "",
        )
        for name, message in self.change.problems().items():
            self.add_error(name, message)
        return data

    def range(self) -> dict[str, datetime]:
        return {
            "starts_from": midnight(self.cleaned_data["starts_from"]),
            "ends_by": midnight(self.cleaned_data["ends_by"]),
        }
