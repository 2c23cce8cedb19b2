"""Invoicing: from rated marks to invoice lines (outcomes, platform fee, minimum
true-up, spend cap, late-signal adjustments) and their taxes. The arithmetic is
pricing.py's; lines are rounded by money.round_line, taxes per rate by taxes.py. Storing
an invoice with its gapless number: invoice_store.py."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist

from billing.credits import credits_lines, credits_plan, purchase_lines
from billing.errors import ClosingError
from billing.models import (
    BillingPeriod,
    InvoiceLine,
    Price,
    TaxRate,
)
from billing.money import ZERO, format_money, format_quantity, round_line
from billing.periods import period_full_end
from billing.pricing import billable_quantity, outcome_charge
from billing.rating import NO_MARKS, Marks, attributed_cost, totals
from billing.taxes import DraftTax, cap_discount_by_rate, invoice_taxes, line_tax_rate

Kind = InvoiceLine.Kind
COUNTED_MODELS = (Price.Model.PER_OUTCOME, Price.Model.GRADUATED, Price.Model.VOLUME)
CREDIT_KINDS = (Kind.CREDITS_APPLIED, Kind.CREDIT_PURCHASE)


@dataclass
class DraftLine:
    kind: str
    description: str
    amount: Decimal
    quantity: Decimal = ZERO
    unit_price: Decimal | None = None
    successes: int = 0
    partials: int = 0
    price_id: int | None = None
    adjusted_period_id: int | None = None
    tax_rate: TaxRate | None = None
    credit_grant_id: int | None = None


@dataclass
class DraftInvoice:
    """An invoice as closing would issue it: lines, and what margins need."""

    period: BillingPeriod
    currency: str
    lines: list[DraftLine] = field(default_factory=list)
    margins: list = field(default_factory=list)
    prices: list[Price] = field(default_factory=list)
    # Counts and sums of the invoice's marks by (price id, period id).
    totals: dict[tuple[int, int], dict] = field(default_factory=dict)
    # Earlier periods without a live invoice (a preview only): their signals are theirs.
    unsettled: list[BillingPeriod] = field(default_factory=list)
    taxes: list[DraftTax] = field(default_factory=list)
    # Prepaid credits drawn (credits.Draw), and the top-ups the invoice bills.
    draws: list = field(default_factory=list)
    top_ups: list = field(default_factory=list)

    @property
    def credits_applied(self) -> Decimal:
        return sum((d.value for d in self.draws), ZERO)

    @property
    def charges(self) -> Decimal:
        """Net before credits and credit purchases: what the period consumed."""
        return sum((line.amount for line in self.lines if line.kind not in CREDIT_KINDS), ZERO)

    @property
    def net(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def tax(self) -> Decimal:
        return sum((t.tax for t in self.taxes), ZERO)

    @property
    def total(self) -> Decimal:
        return self.net + self.tax


def _price_tiers(price: Price):
    if price.model not in Price.TIERED:
        return []
    return [(t.from_quantity, t.up_to_quantity, t.unit_price) for t in price.tiers.all()]


def _charge(price: Price, agg: dict, cost: Decimal) -> tuple[Decimal, Decimal]:
    """(quantity shown, unrounded amount) of a price for aggregated marks."""
    quantity = billable_quantity(
        agg["successes"],
        agg["partial_qty"] or ZERO,
        price.included_quantity if price.model in COUNTED_MODELS else ZERO,
    )
    amount = outcome_charge(
        model=price.model,
        quantity=quantity,
        unit_price=price.unit_price,
        tiers=_price_tiers(price),
        value=agg["value_sum"] or ZERO,
        percent=price.percent_of_value,
        cost=cost,
        markup_percent=price.markup_percent,
    )
    return quantity, amount


def _outcome_description(price: Price, agg: dict, quantity: Decimal, currency: str) -> str:
    name = price.outcome_definition.name
    parts = [f"{name}: {agg['successes']} successes"]
    if agg["partials"]:
        parts.append(f"{agg['partials']} partials counting {format_quantity(agg['partial_qty'])}")
    text = " + ".join(parts)
    if price.model in COUNTED_MODELS:
        if price.included_quantity:
            text += f", {format_quantity(price.included_quantity)} included free"
        model = price.get_model_display().split(" (")[0].lower()
        text += f"; {format_quantity(quantity)} billable ({model})"
    elif price.model == Price.Model.PERCENT_OF_VALUE:
        percent = format_quantity(price.percent_of_value)
        value = format_money(agg["value_sum"] or ZERO, currency)
        text += f"; {percent}% of {price.value_field} {value}"
        if agg["missing_value"]:
            text += f" ({agg['missing_value']} without a numeric {price.value_field}, charged 0)"
    else:
        text += f"; attributed cost plus {format_quantity(price.markup_percent)}%"
    return text


def _prorated(amount: Decimal, period: BillingPeriod, full_end: datetime) -> Decimal:
    full = (full_end - period.starts_at).total_seconds()
    actual = (period.ends_at - period.starts_at).total_seconds()
    return amount if actual >= full else amount * Decimal(actual) / Decimal(full)


def invoice_draft(
    *,
    period: BillingPeriod,
    prices: list[Price],
    marks: Marks,
    invoice_id: int | None = None,
    grants=(),
    top_ups=(),
    as_issued=None,
    price_then=None,
    rerate=None,
) -> DraftInvoice:
    """The lines of the period's invoice from its marks (`invoice_id`: the invoice being
    issued, whose marks are not "billed before"), the top-ups it bills and the prepaid
    credits it draws from `grants` (in drawing order, as they stand: credits.py).
    `as_issued` (an issued invoice, simulations.py): late signals are charged against
    what earlier invoices had billed when it was issued, and lines are taxed at the
    rates its lines had. `price_then(period, price)`: the
    price as it was for an earlier period whose late signals this invoice adjusts (its
    agreement version's, billing/versions.py); by default `price` itself. `rerate(marks)`:
    the marks earlier invoices billed as the simulation re-rates them (simulations.py)."""
    agreement = period.agreement
    currency = agreement.currency
    if agreement.customer.currency != currency:
        raise ClosingError(
            f"Agreement “{agreement.name}” is in {currency} but customer "
            f"{agreement.customer.external_id} is invoiced in {agreement.customer.currency}: "
            "make them the same, then close again."
        )
    draft = DraftInvoice(period=period, currency=currency, prices=prices, totals=totals(marks))
    outcome_total = ZERO
    adjustments: list[DraftLine] = []
    for price in prices:
        agg = draft.totals.get((price.pk, period.pk), NO_MARKS)
        cost = ZERO
        if price.model == Price.Model.COST_PLUS:
            cost = attributed_cost(
                marks=marks.of_period(period.pk),
                definition=price.outcome_definition,
                currency=currency,
                on=period.last_day,
            )
        quantity, amount = _charge(price, agg, cost)
        line = DraftLine(
            kind=Kind.OUTCOME,
            description=_outcome_description(price, agg, quantity, currency),
            amount=round_line(amount, currency),
            quantity=quantity,
            unit_price=price.unit_price if price.model == Price.Model.PER_OUTCOME else None,
            successes=agg["successes"],
            partials=agg["partials"],
            price_id=price.pk,
        )
        draft.lines.append(line)
        outcome_total += line.amount
        late_totals = {
            origin: late
            for (price_id, origin), late in sorted(draft.totals.items(), key=_by_period)
            if price_id == price.pk and origin != period.pk
        }
        adjustments += _adjustment_lines(
            price=price,
            marks=marks,
            late_totals=late_totals,
            currency=currency,
            invoice_id=invoice_id,
            as_issued=as_issued,
            price_then=price_then,
            rerate=rerate,
        )

    full_end = period_full_end(period)
    if agreement.platform_fee:
        fee = round_line(_prorated(agreement.platform_fee, period, full_end), currency)
        draft.lines.append(
            DraftLine(
                kind=Kind.PLATFORM_FEE,
                amount=fee,
                quantity=Decimal(1),
                description="Platform fee"
                + (" (prorated)" if fee != agreement.platform_fee else ""),
            )
        )
    minimum = _prorated(agreement.minimum_commitment, period, full_end)
    if minimum and outcome_total < minimum:
        true_up = round_line(minimum - outcome_total, currency)
        draft.lines.append(
            DraftLine(
                kind=Kind.MINIMUM_TRUE_UP,
                amount=true_up,
                description=f"Minimum commitment {format_money(minimum, currency)}: "
                f"true-up of outcomes charged {format_money(outcome_total, currency)}",
            )
        )
        outcome_total += true_up
    if agreement.spend_cap is not None and outcome_total > agreement.spend_cap:
        discount = round_line(agreement.spend_cap - outcome_total, currency)
        draft.lines.append(
            DraftLine(
                kind=Kind.CAP_DISCOUNT,
                amount=discount,
                description=f"Spend cap {format_money(agreement.spend_cap, currency)}: "
                f"outcomes charged {format_money(outcome_total, currency)}",
            )
        )
    draft.lines += adjustments
    by_id = {price.pk: price for price in prices}
    issued = _rates_issued(as_issued) if as_issued is not None else {}

    def rate(price_id):
        if price_id not in issued:
            if price_id is None and as_issued is not None:  # none such on the invoice
                issued[None] = _rate_then(as_issued)
                return issued[None]
            return line_tax_rate(agreement=agreement, price=by_id.get(price_id))
        return issued[price_id]

    for line in draft.lines:
        line.tax_rate = rate(line.price_id)
    draft.lines = cap_discount_by_rate(draft.lines, currency)
    draft.top_ups = list(top_ups)
    draft.lines += purchase_lines(draft.top_ups, rate(None))
    draft.draws = credits_plan(lines=draft.lines, prices=prices, grants=grants, currency=currency)
    draft.lines += credits_lines(draft.draws)
    draft.taxes = invoice_taxes(draft.lines, currency)
    return draft


def _rates_issued(invoice) -> dict:
    """The tax rate each price's lines had on an issued invoice, and (key None) its
    fee's, true-up's or top-up's: a replay taxes as the invoice was taxed, whatever
    the customer's or agreement's rate became since (they are not terms of a version).
    A line of no price the invoice did not have: _rate_then."""
    kinds = (Kind.OUTCOME, Kind.ADJUSTMENT, Kind.PLATFORM_FEE, Kind.MINIMUM_TRUE_UP)
    rates = {}
    lines = invoice.lines.filter(kind__in=(*kinds, Kind.CREDIT_PURCHASE))
    for line in lines.select_related("tax_rate"):
        rates.setdefault(line.price_id, line.tax_rate)
    return rates


def _rate_then(invoice):
    """The rate a line of no price would have had on the invoice: from the agreement
    and customer as their history had them when it was issued (today's if older)."""
    agreement = invoice.period.agreement
    try:
        then = agreement.history.as_of(invoice.issued_at)
        then.customer = invoice.customer.history.as_of(invoice.issued_at)
    except ObjectDoesNotExist:
        then = agreement
    return line_tax_rate(agreement=then, price=None)


def _by_period(item):
    (price_id, period_id), _ = item
    return (price_id, period_id or 0)


def _adjustment_lines(
    *, price, marks, late_totals, currency, invoice_id, as_issued=None, price_then=None, rerate=None
) -> list[DraftLine]:
    """Late signals of earlier periods (`late_totals`: theirs by period): charged at what
    their period's total would have cost with them, less what that period was charged."""
    lines = []
    for origin_id, late in late_totals.items():
        if not (late["successes"] or late["partials"]):
            continue
        origin = BillingPeriod.objects.get(pk=origin_id)
        billed_before = Marks.billed_before(
            price_id=price.pk,
            period_id=origin.pk,
            exclude_invoice_id=invoice_id,
            as_issued=as_issued,
        )
        if rerate is not None:
            billed_before = rerate(billed_before)
        before = totals(billed_before).get((price.pk, origin.pk), NO_MARKS)
        after = {k: (before[k] or 0) + (late[k] or 0) for k in before}
        then = price_then(origin, price) if price_then else price  # its version's price
        cost_before = cost_after = ZERO
        if then.model == Price.Model.COST_PLUS:
            on = origin.last_day
            definition = then.outcome_definition
            cost_before = attributed_cost(
                marks=billed_before, definition=definition, currency=currency, on=on
            )
            cost_after = cost_before + attributed_cost(
                marks=marks.of_period(origin.pk), definition=definition, currency=currency, on=on
            )
        q_before, amount_before = _charge(then, before, cost_before)
        q_after, amount_after = _charge(then, after, cost_after)
        lines.append(
            DraftLine(
                kind=Kind.ADJUSTMENT,
                description=(
                    f"Late signals of {origin.starts_at:%Y-%m-%d} – {origin.ends_at:%Y-%m-%d}: "
                    f"{price.outcome_definition.name}, {late['successes']} successes"
                    + (f" + {late['partials']} partials" if late["partials"] else "")
                ),
                amount=round_line(amount_after - amount_before, currency),
                quantity=q_after - q_before,
                successes=late["successes"],
                partials=late["partials"],
                price_id=price.pk,
                adjusted_period_id=origin.pk,
            )
        )
    return lines
