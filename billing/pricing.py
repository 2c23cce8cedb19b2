"""The arithmetic of prices: pure functions on Decimals, no database.

Amounts here are exact; rounding happens once per invoice line (round_line).
"""

import math
from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise

from django.db.models import TextChoices

from billing.money import ZERO


class PricingModel(TextChoices):
    """How a price turns outcomes into a charge (Price.Model)."""

    PER_OUTCOME = "per_outcome", "Per outcome (unit price × quantity)"
    GRADUATED = "graduated", "Graduated tiers (each unit at its tier's price)"
    VOLUME = "volume", "Volume tiers (all units at the reached tier's price)"
    PERCENT_OF_VALUE = "percent_of_value", "Percent of a value field"
    COST_PLUS = "cost_plus", "Cost plus markup"


# A tier: (from, up to, unit price). It holds the quantities above `from` up to and
# including `up to` (None: no end); the first tier holds 0 too. As Stripe's and Lago's
# `up_to`: "up to 100 @ 1.00, above @ 0.80" charges 100 units at 1.00 under volume pricing.
# (Until migration 0028 an upper bound was exclusive; it moved the bounds of volume tiers
# stored before down by 0.00000001, the quantities' precision, so that every invoice
# issued under them is reproduced.)
Tier = tuple[Decimal, Decimal | None, Decimal]


def graduated_charge(quantity: Decimal, tiers: Sequence[Tier]) -> Decimal:
    """Each unit at the price of the tier it falls in (the bounds' inclusiveness makes no
    difference here: the units up to a bound are charged at its tier's price)."""
    total = ZERO
    for start, end, unit in tiers:
        if quantity <= start:
            break
        upper = quantity if end is None else min(quantity, end)
        total += (upper - start) * unit
    return total


def volume_tier(quantity: Decimal, tiers: Sequence[Tier]) -> Tier:
    """The tier the total quantity falls in: the first whose upper bound it does not pass."""
    for tier in tiers:
        if tier[1] is None or quantity <= tier[1]:
            return tier
    return tiers[-1]


def volume_charge(quantity: Decimal, tiers: Sequence[Tier]) -> Decimal:
    """All units at the price of the tier the total reaches."""
    return quantity * volume_tier(quantity, tiers)[2]


def volume_drops(tiers: Sequence[Tier]) -> list[tuple[Decimal, Decimal, Decimal]]:
    """Where one more outcome costs less in total under volume pricing: (the first whole
    number of outcomes in a tier, the total for one fewer, the total for it) for each tier
    after the first where the second total is below the first. Tiers ascend."""
    drops = []
    for before, _ in pairwise(tiers):
        first = math.floor(before[1]) + 1  # the first whole quantity above the bound
        below = volume_charge(Decimal(first - 1), tiers)
        at = volume_charge(Decimal(first), tiers)
        if at < below:
            drops.append((Decimal(first), below, at))
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
    if model == PricingModel.PER_OUTCOME:
        return quantity * (unit_price or ZERO)
    if model == PricingModel.GRADUATED:
        return graduated_charge(quantity, tiers)
    if model == PricingModel.VOLUME:
        return volume_charge(quantity, tiers) if tiers else ZERO
    if model == PricingModel.PERCENT_OF_VALUE:
        return value * (percent or ZERO) / 100
    if model == PricingModel.COST_PLUS:
        return cost * (1 + (markup_percent or ZERO) / 100)
    raise ValueError(f"unknown pricing model {model!r}")


def tier_problems(tiers: list[tuple]) -> list[tuple[int, str, str]]:
    """What is wrong with a price's tiers, as (index, field, message) in the order entered.

    `tiers` is a list of (from_quantity, up_to_quantity or None, unit_price).
    Tiers must be entered in ascending order, start at 0, follow each other
    without gaps or overlaps, and only the last may (and must) be unbounded.
    """
    problems: list[tuple[int, str, str]] = []
    for i, (start, end, unit_price) in enumerate(tiers):
        if unit_price is not None and unit_price < 0:
            problems.append((i, "unit_price", "A tier's unit price cannot be negative."))
        if start is None:
            continue
        if start < 0:
            problems.append((i, "from_quantity", "A tier cannot start below 0."))
        if end is not None and end <= start:
            problems.append((i, "up_to_quantity", f"The tier must end above its start ({start})."))
        if i == 0:
            if start != 0:
                problems.append((i, "from_quantity", "The first tier must start at 0."))
            continue
        prev_start, prev_end, _ = tiers[i - 1]
        if prev_start is not None and start < prev_start:
            problems.append(
                (
                    i,
                    "from_quantity",
                    f"Tiers must be in ascending order: {start} comes after "
                    f"the tier starting at {prev_start}. Reorder the tiers.",
                )
            )
        elif prev_end is None:
            problems.append(
                (
                    i - 1,
                    "up_to_quantity",
                    "Only the last tier can have no upper bound; give this tier an end.",
                )
            )
        elif start < prev_end:
            problems.append(
                (
                    i,
                    "from_quantity",
                    f"This tier overlaps the one before, which runs up to "
                    f"{prev_end}. Start it at {prev_end}.",
                )
            )
        elif start > prev_end:
            problems.append(
                (
                    i,
                    "from_quantity",
                    f"Gap between tiers: the one before ends at {prev_end}. "
                    f"Start this tier at {prev_end}.",
                )
            )
    if tiers and tiers[-1][1] is not None:
        problems.append(
            (
                len(tiers) - 1,
                "up_to_quantity",
                "Leave the last tier's upper bound empty so every quantity has a price.",
            )
        )
    return problems
