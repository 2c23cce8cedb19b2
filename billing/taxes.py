"""Tax on an invoice: which rate each line bears, and the tax of each rate.

Rounding (stated once, here): every line is already rounded half-up to the currency's
minor unit (money.round_line); the tax of a rate is that rate applied once to the sum of
its lines' nets, rounded half-up to the minor unit once. So `tax` is per rate, not per
line, and `total = net + tax` holds exactly.
"""

from dataclasses import dataclass, replace
from decimal import Decimal

from billing.models import InvoiceLine, Price, PriceAgreement, TaxRate
from billing.money import ZERO, round_line

Kind = InvoiceLine.Kind

HUNDRED = Decimal(100)


@dataclass
class DraftTax:
    rate: TaxRate
    net: Decimal
    tax: Decimal


def line_tax_rate(*, agreement: PriceAgreement, price: Price | None) -> TaxRate | None:
    """The rate of a line: a customer's reverse-charge or exempt rate for every line;
    else the price's own rate, the agreement's, the customer's; None: no tax. (A spend
    cap's discount then follows the lines it caps: cap_discount_by_rate.)"""
    customer_rate = agreement.customer.tax_rate
    if customer_rate is not None and customer_rate.overrides_prices:
        return customer_rate
    if price is not None and price.tax_rate is not None:
        return price.tax_rate
    return agreement.tax_rate or customer_rate


def rate_tax(net: Decimal, percent: Decimal, currency: str) -> Decimal:
    return round_line(net * percent / HUNDRED, currency)


def invoice_taxes(lines, currency: str) -> list[DraftTax]:
    """One entry per rate borne by a line, in the order the lines first name them. Lines
    without a rate are outside tax and are in no entry."""
    nets: dict[int, Decimal] = {}
    rates: dict[int, TaxRate] = {}
    for line in lines:
        if line.tax_rate is None:
            continue
        rates.setdefault(line.tax_rate.pk, line.tax_rate)
        nets[line.tax_rate.pk] = nets.get(line.tax_rate.pk, ZERO) + line.amount
    return [
        DraftTax(rate=rates[pk], net=net, tax=rate_tax(net, rates[pk].percent, currency))
        for pk, net in nets.items()
    ]


def cap_discount_by_rate(lines, currency: str) -> list:
    """A spend cap discounts the charges it caps (outcomes, and a true-up), so its tax
    follows theirs: one discount line per rate of those lines, in proportion to their
    amounts, each rounded half-up to the minor unit, the last taking the remainder (the
    lines add up to the discount). Charges at one rate: one line at that rate."""
    capped: dict[int | None, list] = {}
    for line in lines:
        if line.kind in (Kind.OUTCOME, Kind.MINIMUM_TRUE_UP):
            key = line.tax_rate.pk if line.tax_rate else None
            entry = capped.setdefault(key, [line.tax_rate, ZERO])
            entry[1] += line.amount
    total = sum((net for _, net in capped.values()), ZERO)
    result = []
    for line in lines:
        if line.kind != Kind.CAP_DISCOUNT or not capped or not total:
            result.append(line)
            continue
        shares = list(capped.values())
        if len(shares) == 1:
            result.append(replace(line, tax_rate=shares[0][0]))
            continue
        remaining = line.amount
        for i, (rate, net) in enumerate(shares):
            last = i == len(shares) - 1
            share = remaining if last else round_line(line.amount * net / total, currency)
            remaining -= share
            name = rate.name if rate else "no tax"
            result.append(
                replace(
                    line, amount=share, tax_rate=rate, description=f"{line.description} ({name})"
                )
            )
    return result
