"""Hypothesis properties of money arithmetic and tier math."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.money import round_line
from billing.pricing import graduated_charge, volume_charge, volume_drops
from customers.currencies import minor_unit

amounts = st.decimals(
    min_value=Decimal("-100000"),
    max_value=Decimal("100000"),
    places=8,
    allow_nan=False,
    allow_infinity=False,
)
quantities = st.decimals(
    min_value=0, max_value=Decimal(5000), places=4, allow_nan=False, allow_infinity=False
)


@given(st.lists(amounts, min_size=1, max_size=20), st.sampled_from(["JPY", "USD", "KWD"]))
def test_total_is_the_sum_of_rounded_lines_at_the_minor_unit(lines, currency):
    rounded = [round_line(a, currency) for a in lines]
    total = sum(rounded, Decimal(0))
    assert all(-r.as_tuple().exponent == minor_unit(currency) for r in rounded)
    assert total == round_line(total, currency)  # no rounding left in the total
    assert all(
        abs(r - a) <= Decimal(1).scaleb(-minor_unit(currency)) / 2
        for r, a in zip(rounded, lines, strict=True)
    )


@st.composite
def falling_tiers(draw):
    bounds = sorted(set(draw(st.lists(st.integers(1, 2000), min_size=1, max_size=5))))
    prices = sorted(
        draw(
            st.lists(
                st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10), places=2),
                min_size=len(bounds) + 1,
                max_size=len(bounds) + 1,
            )
        ),
        reverse=True,
    )
    starts = [Decimal(0), *map(Decimal, bounds)]
    ends = [*map(Decimal, bounds), None]
    return list(zip(starts, ends, prices, strict=True))


@given(falling_tiers(), quantities, quantities)
def test_graduated_never_falls_as_quantity_grows(tiers, a, b):
    low, high = sorted((a, b))
    assert graduated_charge(low, tiers) <= graduated_charge(high, tiers)


@given(falling_tiers(), quantities)
def test_with_falling_prices_graduated_is_never_below_volume(tiers, q):
    assert graduated_charge(q, tiers) >= volume_charge(q, tiers)


def test_volume_may_drop_past_a_tier_boundary():
    tiers = [(Decimal(0), Decimal(100), Decimal(1)), (Decimal(100), None, Decimal("0.5"))]
    assert volume_charge(Decimal(100), tiers) == 100  # the bound is in its tier
    assert volume_charge(Decimal(101), tiers) == Decimal("50.5")


def test_volume_drops_names_the_first_quantity_past_the_bound_and_both_totals():
    tiers = [(Decimal(0), Decimal(100), Decimal(1)), (Decimal(100), None, Decimal("0.5"))]
    assert volume_drops(tiers) == [(Decimal(101), Decimal(100), Decimal("50.5"))]
    # 0.995 each above 100: 100 outcomes cost 100, 101 cost 100.495 -> no drop
    tiers[1] = (Decimal(100), None, Decimal("0.995"))
    assert volume_drops(tiers) == []
    # A bound of 99.99999999 (a tier migrated from [0, 100)): 100 is the first past it.
    tiers = [
        (Decimal(0), Decimal("99.99999999"), Decimal(1)),
        (Decimal("99.99999999"), None, Decimal("0.5")),
    ]
    assert volume_drops(tiers) == [(Decimal(100), Decimal(99), Decimal(50))]


@pytest.mark.parametrize(
    ("quantity", "volume", "graduated"),
    [
        # up to 100 @ 1.00, up to 500 @ 0.80, above @ 0.50
        ("0", "0", "0"),
        ("1", "1.00", "1.00"),
        ("100", "100.00", "100.00"),
        ("100.25", "80.20", "100.20"),  # a partial past the bound: 100 + 0.25 x 0.80
        ("101", "80.80", "100.80"),
        ("500", "400.00", "420.00"),  # 100 + 400 x 0.80
        ("501", "250.50", "420.50"),
    ],
)
def test_inclusive_bounds_by_hand(quantity, volume, graduated):
    tiers = [
        (Decimal(0), Decimal(100), Decimal("1.00")),
        (Decimal(100), Decimal(500), Decimal("0.80")),
        (Decimal(500), None, Decimal("0.50")),
    ]
    q = Decimal(quantity)
    assert volume_charge(q, tiers) == Decimal(volume)
    assert graduated_charge(q, tiers) == Decimal(graduated)


@given(falling_tiers(), st.integers(1, 2100))
def test_volume_total_drops_exactly_where_volume_drops_says(tiers, n):
    """With whole-number boundaries, one more outcome costs less in total exactly at the
    boundaries volume_drops reports, and the totals it reports are the charges."""
    q = Decimal(n)
    drops = {boundary: (below, at) for boundary, below, at in volume_drops(tiers)}
    dropped = volume_charge(q, tiers) < volume_charge(q - 1, tiers)
    assert dropped == (q in drops)
    if dropped:
        assert drops[q] == (volume_charge(q - 1, tiers), volume_charge(q, tiers))
