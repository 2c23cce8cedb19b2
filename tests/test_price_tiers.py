"""Tier rules: ascending, from 0, no gaps or overlaps, only the last unbounded."""

from decimal import Decimal as D

from billing.pricing import tier_problems


def fields(tiers):
    return [(i, field) for i, field, _ in tier_problems(tiers)]


def test_valid_tiers_have_no_problems():
    assert (
        tier_problems([(D(0), D(100), D(1)), (D(100), D(500), D("0.8")), (D(500), None, D("0.5"))])
        == []
    )
    assert tier_problems([(D(0), None, D(1))]) == []


def test_first_tier_starts_at_zero():
    assert fields([(D(1), None, D(1))]) == [(0, "from_quantity")]


def test_gap():
    problems = tier_problems([(D(0), D(100), D(1)), (D(150), None, D(1))])
    assert [(i, f) for i, f, _ in problems] == [(1, "from_quantity")]
    assert "Gap" in problems[0][2] and "100" in problems[0][2]


def test_overlap():
    problems = tier_problems([(D(0), D(100), D(1)), (D(50), None, D(1))])
    assert [(i, f) for i, f, _ in problems] == [(1, "from_quantity")]
    assert "overlaps" in problems[0][2]


def test_unsorted():
    problems = tier_problems([(D(0), D(100), D(1)), (D(500), None, D(1)), (D(100), D(500), D(1))])
    assert (2, "from_quantity") in [(i, f) for i, f, _ in problems]
    assert any("ascending" in m for _, _, m in problems)


def test_negative_price_and_bounds():
    assert (0, "unit_price") in fields([(D(0), None, D(-1))])
    assert (0, "up_to_quantity") in fields([(D(0), D(0), D(1)), (D(0), None, D(1))])


def test_only_last_tier_unbounded_and_last_must_be():
    assert (0, "up_to_quantity") in fields([(D(0), None, D(1)), (D(10), None, D(1))])
    assert fields([(D(0), D(10), D(1))]) == [(0, "up_to_quantity")]
