"""Tax on an invoice: which rate each line bears, and the tax of each rate.

Rounding (stated once, here): every line is already rounded half-up to the currency's
minor unit (money.round_line); the tax of a rate is that rate applied once to the sum of
its lines' nets, rounded half-up to the minor unit once. So `tax` is per rate, not per
line, and `total = net + tax` holds exactly.
"""

from dataclasses import dataclass
from decimal import Decimal

from billing.models import Price, PriceAgreement, TaxRate
from billing.money import ZERO, round_line

HUNDRED = Decimal(100)


@dataclass
class DraftTax:
    rate: TaxRate
    net: Decimal
    tax: Decimal


def line_tax_rate(*, agreement: PriceAgreement, price: Price | None) -> TaxRate | None:
    """The rate of a line: a customer's reverse-charge or exempt rate for every line;
    else the price's own rate, the agreement's, the customer's; None: no tax."""
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
