"""The arithmetic of prices: pure functions on Decimals, no database.

Amounts here are exact; rounding happens once per invoice line (round_line).
"""

from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise

from billing.money import ZERO

Tier = tuple[Decimal, Decimal | None, Decimal]  # from, up to (exclusive, None = no end), unit


def graduated_charge(quantity: Decimal, tiers: Sequence[Tier]) -> Decimal:
    """Each unit at the price of the tier it falls in."""
    total = ZERO
    for start, end, unit in tiers:
        if quantity <= start:
            break
        upper = quantity if end is None else min(quantity, end)
        total += (upper - start) * unit
    return total


def volume_tier(quantity: Decimal, tiers: Sequence[Tier]) -> Tier:
    """The tier the total quantity reaches."""
    reached = tiers[0]
    for tier in tiers:
        if quantity >= tier[0]:
            reached = tier
    return reached


def volume_charge(quantity: Decimal, tiers: Sequence[Tier]) -> Decimal:
    """All units at the price of the tier the total reaches."""
    return quantity * volume_tier(quantity, tiers)[2]


def volume_drops(tiers: Sequence[Tier]) -> list[tuple[Decimal, Decimal, Decimal]]:
    """The tier boundaries where one more outcome costs less in total under volume pricing:
    (boundary, total for boundary - 1 outcomes, total for boundary outcomes) for each
    boundary of at least 1 where the second total is below the first. Tiers ascend."""
    drops = []
    for _, after in pairwise(tiers):
        boundary = after[0]
        if boundary < 1:
            continue
        below = volume_charge(boundary - 1, tiers)
        at = volume_charge(boundary, tiers)
        if at < below:
            drops.append((boundary, below, at))
    return drops


def billable_quantity(successes: int, partial_quantity: Decimal, included: Decimal) -> Decimal:
    """Successes plus fractional partials, less the free outcomes of the period."""
    return max(ZERO, Decimal(successes) + partial_quantity - included)


def outcome_charge(
    *,
    model: str,
    quantity: Decimal = ZERO,
    unit_price: Decimal | None = None,
    tiers: Sequence[Tier] = (),
    value: Decimal = ZERO,
    percent: Decimal | None = None,
    cost: Decimal = ZERO,
    markup_percent: Decimal | None = None,
) -> Decimal:
    """The unrounded charge of one price for one period."""
    if model == "per_outcome":
        return quantity * (unit_price or ZERO)
    if model == "graduated":
        return graduated_charge(quantity, tiers)
    if model == "volume":
        return volume_charge(quantity, tiers) if tiers else ZERO
    if model == "percent_of_value":
        return value * (percent or ZERO) / 100
    if model == "cost_plus":
        return cost * (1 + (markup_percent or ZERO) / 100)
    raise ValueError(f"unknown pricing model {model!r}")
