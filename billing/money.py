"""Money: the precision amounts are stored at, the one rounding point of an invoice,
exchange rates, margin %, and how an amount is shown.

Amounts are exact `Decimal`s everywhere; they are cut to the stored precision where
they are stored, and rounded half-up to the currency's minor unit once per invoice line.
"""

import math
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from customers.currencies import STORED, minor_unit, quantum

ZERO = Decimal(0)
# Amounts, unit prices, costs and quantities are stored with 8 decimal places.
MONEY = {"max_digits": 20, "decimal_places": 8}  # the model fields' arguments
# Margin % is stored and shown with 2 decimal places.
PERCENT = Decimal("0.01")


def stored(amount) -> Decimal:
    """The amount at its stored precision. SQLite sums REAL values: a float that reaches
    here is read through its shortest repr, so its noise is cut, not carried."""
    if not isinstance(amount, Decimal):
        amount = Decimal(str(amount))
    return amount.quantize(STORED, rounding=ROUND_HALF_UP)


def round_line(amount: Decimal, currency: str) -> Decimal:
    """Half-up to the currency's ISO 4217 minor unit: the one rounding point of an invoice."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def json_number(amount: Decimal) -> Decimal:
    """A decimal as APIs whose types say number (Paid's) write it, through
    config.renderers.DecimalJSONRenderer: its own digits, no trailing zeros, whole ones
    without a point (137.03, 1.25, 100); never a float."""
    if amount == amount.to_integral_value():
        return Decimal(int(amount))
    return amount.normalize()


def margin_percent(margin: Decimal, revenue: Decimal) -> Decimal | None:
    """Margin as a percent of revenue at 2 places; None when there is no revenue."""
    if not revenue:
        return None
    return (margin / revenue * 100).quantize(PERCENT, rounding=ROUND_HALF_UP)


def fx_rate_on(base: str, quote: str, on: date) -> Decimal | None:
    """The latest admin-kept rate base→quote effective on or before `on`; None when there
    is none. The caller decides: closing refuses, margins mark the figure incomplete."""
    from billing.models import ExchangeRate  # models import this module's precision

    if base == quote:
        return Decimal(1)
    return (
        ExchangeRate.objects.filter(base_currency=base, quote_currency=quote, effective_on__lte=on)
        .order_by("-effective_on")
        .values_list("rate", flat=True)
        .first()
    )


class Rates:
    """Exchange rates effective on one day, each pair looked up once, remembering the
    pairs that have none (a margin computed without them is incomplete)."""

    def __init__(self, on: date):
        self.on = on
        self.missing: set[str] = set()
        self._cache: dict[tuple[str, str], Decimal | None] = {}

    def convert(self, amount: Decimal, base: str, quote: str) -> Decimal | None:
        if base == quote:
            return amount
        if (base, quote) not in self._cache:
            self._cache[(base, quote)] = fx_rate_on(base, quote, self.on)
        rate = self._cache[(base, quote)]
        if rate is None:
            self.missing.add(f"{base}→{quote}")
            return None
        return amount * rate


def format_money(amount, currency: str | None = None, *, grouping: bool = True) -> str:
    """`10,991.74` for USD, `38,323` for JPY, `1.234` for KWD: thousands separated, at
    the currency's minor unit (half-up). Without a currency: at least 2 places and no
    trailing zeros past them (`0.0045`), for unit prices and costs. `grouping=False`
    leaves out the thousands separators, for files read by programs (CSV)."""
    if amount is None or amount == "":
        return ""
    amount = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    separator = "," if grouping else ""
    # + 0: a negative zero (-0.00: a credit at 0% tax, -0.004 rounded) is shown as 0.00.
    if currency:
        return f"{round_line(amount, currency) + 0:{separator}.{minor_unit(currency)}f}"
    places = max(2, -stored(amount).normalize().as_tuple().exponent)
    return f"{stored(amount) + 0:{separator}.{places}f}"


def format_percent(percent: Decimal | None) -> str:
    """A margin % as people read it: `12.5%`, `—` when there is none."""
    return "—" if percent is None else f"{percent:.1f}%"


def format_quantity(quantity) -> str:
    """A quantity as it reads: `12`, `2.5`, never `12.00000000`."""
    if quantity is None or quantity == "":
        return ""
    quantity = quantity if isinstance(quantity, Decimal) else Decimal(str(quantity))
    return f"{quantity.normalize():f}"


def money_split(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """`total` (at the currency's minor unit) split in proportion to `weights`, each part
    at the minor unit, by largest remainder: every part is its exact share rounded down,
    and the units left over go one each to the parts with the largest fractions (the
    first part on a tie). The parts add up to `total` exactly. Weights that add up to 0
    split by their sizes; all zero: the first part takes everything."""
    if not weights:
        return []
    unit = quantum(currency)
    units = int(round_line(total, currency) / unit)
    whole = sum(weights, ZERO)
    if not whole:
        weights = [abs(w) for w in weights]
        whole = sum(weights, ZERO)
    if not whole:
        return [total if i == 0 else ZERO for i in range(len(weights))]
    shares = [units * w / whole for w in weights]
    parts = [math.floor(share) for share in shares]
    left = units - sum(parts)
    by_fraction = sorted(range(len(shares)), key=lambda i: (parts[i] - shares[i], i))
    for i in range(left):
        parts[by_fraction[i % len(parts)]] += 1
    return [part * unit for part in parts]
