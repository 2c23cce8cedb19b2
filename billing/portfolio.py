"""The pricing lab across customers: one change (an outcome's prices up or down by a
percentage, an outcome priced by new tiers, a minimum commitment) replayed over every
agreement it concerns, by the same engine as one agreement (billing/simulations.py), and
scheduled as the next version of the agreements chosen, all at once."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from billing.agreement_changes import agreement_locked
from billing.models import AgreementVersion, OutcomeDefinition, Price, PriceAgreement
from billing.money import format_money, format_quantity
from billing.pricing import tier_problems
from billing.rating import prices_of
from billing.simulations import Figures, agreement_simulate, periods_closed_of
from billing.version_changes import boundaries_open, version_schedule
from billing.versions import agreement_copy, price_copy, terms_read
from customers.errors import ConflictError

EIGHT = Decimal("1E-8")
FOUR = Decimal("1E-4")


class Kind(models.TextChoices):
    PERCENT = "percent", "Change an outcome's prices by a percentage"
    TIERS = "tiers", "Price an outcome by tiers instead"
    MINIMUM = "minimum", "Set a minimum commitment per period"


@dataclass
class PortfolioChange:
    kind: str
    outcome: OutcomeDefinition | None = None
    percent: Decimal | None = None
    model: str = Price.Model.GRADUATED
    tiers: list = field(default_factory=list)
    amount: Decimal | None = None
    currency: str = ""

    def describe(self) -> str:
        if self.kind == Kind.PERCENT:
            sign = "+" if self.percent > 0 else ""
            return f"{self.outcome.name}: prices {sign}{format_quantity(self.percent)}%"
        if self.kind == Kind.TIERS:
            rows = ", ".join(
                (f"up to {format_quantity(hi)}" if hi is not None else "above")
                + f" @ {format_money(unit)}"
                for _, hi, unit in self.tiers
            )
            model = Price.Model(self.model).label.split(" (")[0].lower()
            return f"{self.outcome.name}: {model} {rows}"
        return f"minimum commitment {format_money(self.amount, self.currency)} {self.currency}"

    def problems(self) -> dict:
        """What to fix in the change itself, by field."""
        errors = {}
        if self.kind in (Kind.PERCENT, Kind.TIERS) and self.outcome is None:
            errors["outcome"] = "Choose the outcome whose prices change."
        if self.kind == Kind.PERCENT and (self.percent is None or self.percent <= -100):
            errors["percent"] = "Give a change above -100%, e.g. 10 for +10%."
        if self.kind == Kind.TIERS:
            if not self.tiers:
                errors["tiers"] = "Give at least one tier, e.g. “above @ 1.00”."
            else:
                for i, name, message in tier_problems(self.tiers):
                    errors.setdefault("tiers", f"Tier {i + 1} {name}: {message}")
        if self.kind == Kind.MINIMUM:
            if self.amount is None or self.amount < 0:
                errors["amount"] = "Give the minimum per period, e.g. 500 (0 removes it)."
            if not self.currency:
                errors["currency"] = "A minimum is an amount: choose the agreements' currency."
        return errors

    def adjust(self, agreement: PriceAgreement, prices: list[Price]):
        """Copies of a period's terms with the change made (ValidationError: refused)."""
        if self.kind == Kind.MINIMUM:
            copied = agreement_copy(agreement, {"minimum_commitment": self.amount})
            copied.clean()
            return copied, prices
        changed = []
        for price in prices:
            if price.outcome_definition_id != self.outcome.pk:
                changed.append(price)
            elif self.kind == Kind.PERCENT:
                changed.append(_scaled(price, 1 + self.percent / 100))
            else:
                values = {"model": self.model, "unit_price": None, "percent_of_value": None}
                values |= {"markup_percent": None}  # the value field stays: late signals
                changed.append(price_copy(price, values, tiers=list(self.tiers)))
        for price in changed:
            _valid(price)
        return agreement, changed


def _valid(price: Price) -> None:
    """A changed price within what its row holds (digits, places): ValidationError."""
    names = [f.name for f in price._meta.fields]
    price.clean_fields(exclude=[n for n in names if n not in PRICE_AMOUNTS])
    if price.model in Price.TIERED:
        for tier in price.tiers.all():
            tier.clean_fields(exclude=["price"])


PRICE_AMOUNTS = ("unit_price", "percent_of_value", "markup_percent")


def _scaled(price: Price, factor: Decimal) -> Price:
    values = {}
    if price.unit_price is not None:
        values["unit_price"] = (price.unit_price * factor).quantize(EIGHT)
    if price.percent_of_value is not None:
        values["percent_of_value"] = (price.percent_of_value * factor).quantize(FOUR)
    if price.model == Price.Model.COST_PLUS and price.markup_percent is not None:
        values["markup_percent"] = ((100 + price.markup_percent) * factor - 100).quantize(FOUR)
    tiers = None
    if price.model in Price.TIERED:
        tiers = [
            (t.from_quantity, t.up_to_quantity, (t.unit_price * factor).quantize(EIGHT))
            for t in price.tiers.all()
        ]
    return price_copy(price, values, tiers)


@dataclass
class Impact:
    """One agreement's figures over the range, as invoiced and under the change."""

    agreement: PriceAgreement
    periods: int = 0
    actual: Figures = field(default_factory=Figures)
    simulated: Figures = field(default_factory=Figures)
    problem: str = ""

    @property
    def change(self) -> Decimal:
        return self.simulated.revenue - self.actual.revenue

    @property
    def change_percent(self) -> Decimal | None:
        if not self.actual.revenue:
            return None
        return (self.change / self.actual.revenue * 100).quantize(Decimal("0.01"))

    def flagged(self, threshold: Decimal) -> bool:
        percent = self.change_percent
        return percent is not None and percent > threshold


def agreements_concerned(change: PortfolioChange) -> list[PriceAgreement]:
    agreements = PriceAgreement.objects.select_related("customer")
    if change.outcome is not None:
        agreements = agreements.filter(prices__outcome_definition=change.outcome)
    if change.currency:
        agreements = agreements.filter(currency=change.currency)
    return list(agreements.distinct().order_by("pk"))


def portfolio_simulate(
    change: PortfolioChange, *, starts_from: datetime, ends_by: datetime
) -> list[Impact]:
    """Each concerned agreement with closed periods in the range, most changed first (in
    its currency); agreements the change cannot apply to carry the reason."""
    impacts = []
    agreements = agreements_concerned(change)
    closed = periods_closed_of([a.pk for a in agreements], starts_from, ends_by)
    for agreement in agreements:
        periods = closed.get(agreement.pk)
        if not periods:
            continue
        impact = Impact(agreement=agreement, periods=len(periods))
        try:
            simulation = agreement_simulate(
                agreement=agreement, periods=periods, adjust=change.adjust
            )
        except ValidationError as error:
            impact.problem = " ".join(error.messages)
        else:
            impact.actual = simulation.total("actual")
            impact.simulated = simulation.total("simulated")
        impacts.append(impact)
    return sorted(impacts, key=lambda i: (i.agreement.currency, -abs(i.change), i.agreement.pk))


def portfolio_totals(impacts: list[Impact]) -> dict[str, Impact]:
    """The impacts added up per currency."""
    totals: dict[str, Impact] = {}
    for impact in impacts:
        total = totals.setdefault(impact.agreement.currency, Impact(agreement=impact.agreement))
        total.periods += impact.periods
        for which in ("actual", "simulated"):
            into, add = getattr(total, which), getattr(impact, which)
            into.revenue += add.revenue
            into.costs += add.costs
            into.invoiced += add.invoiced
    return totals


def portfolio_schedule(
    change: PortfolioChange,
    *,
    agreement_ids: list[int],
    user=None,
    on_or_after: date | None = None,
    now: datetime | None = None,
) -> list[AgreementVersion]:
    """The change as the next version of each agreement, from its first period start
    after now (and on or after `on_or_after`), all in one transaction: one refusal
    (ConflictError naming the agreement) schedules none."""
    now = now or timezone.now()
    versions = []
    with transaction.atomic():
        for agreement in (
            PriceAgreement.objects.filter(pk__in=agreement_ids)
            .select_related("customer")
            .order_by("pk")
        ):
            starts = [
                s
                for s in boundaries_open(agreement, now, count=60)
                if on_or_after is None or s.date() >= on_or_after
            ]
            if not starts:
                raise ConflictError(
                    f"{agreement.customer.name}, “{agreement.name}”: no period starts "
                    "then (it ends before): leave it out, or choose an earlier date."
                )
            agreement, _ = agreement_locked(agreement.pk)  # its rows as they are now
            try:
                terms = terms_read(*change.adjust(agreement, prices_of(agreement)))
                version = version_schedule(
                    agreement_id=agreement.pk,
                    effective_from=starts[0],
                    terms=terms,
                    source=AgreementVersion.Source.PORTFOLIO,
                    note=change.describe()[:300],
                    user=user,
                    now=now,
                )
            except (ConflictError, ValidationError) as error:
                text = error.message if isinstance(error, ConflictError) else error.messages[0]
                raise ConflictError(
                    f"{agreement.customer.name}, “{agreement.name}”: {text}"
                ) from error
            if version is not None:
                versions.append(version)
    return versions
