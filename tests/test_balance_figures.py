"""The live balance's figures, computed by hand: the open period's use equals its dry-run
invoice (invoice_preview); closed use comes from the ledger; a period still in its grace
draws before the current one; two agreements never count one credit twice; outcome
grants are shown in outcomes; computing writes nothing."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from billing.balances import balance_compute
from billing.models import CreditLedgerEntry
from billing.services import invoice_preview, period_close
from tests.balance_helpers import T0, second_agreement, written_rows
from tests.billing_helpers import World
from tests.credit_helpers import grant

pytestmark = pytest.mark.django_db

FEB = datetime(2026, 2, 1, tzinfo=UTC)


def rows_by_name(balance):
    return {row["name"]: row for row in balance.grants}


def test_the_open_period_figure_is_its_dry_run_invoice():
    w = World(unit_price=D("10.00"))
    grant(w.customer, "100.00", name="Annual")
    grant(w.customer, "50.00", name="January promo", expires_at=FEB)
    w.signals(17)
    balance = balance_compute(w.customer, now=T0)
    draft = invoice_preview(period=w.period(1))
    # 17 x 10.00 = 170.00 charged; the promo (expiring first) 50.00, then Annual 100.00:
    # 150.00 of credits, 20.00 overage, nothing left.
    assert (draft.charges, draft.credits_applied, draft.net) == (
        D("170.00"),
        D("150.00"),
        D("20.00"),
    )
    assert (balance.spend_open, balance.used_open, balance.overage_open) == (
        draft.charges,
        draft.credits_applied,
        draft.net,
    )
    assert (balance.granted, balance.used_closed, balance.remaining) == (
        D("150.00"),
        D("0"),
        D("0"),
    )
    rows = rows_by_name(balance)
    assert [row["name"] for row in balance.grants] == ["January promo", "Annual"]
    assert (rows["January promo"]["used_open"], rows["January promo"]["available"]) == (
        "50.00",
        "0.00",
    )
    assert (rows["Annual"]["used_open"], rows["Annual"]["available"]) == ("100.00", "0.00")
    assert (balance.period_starts_at, balance.period_ends_at) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        FEB,
    )


def test_closed_use_comes_from_the_ledger_and_the_next_period_draws_what_is_left():
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "100.00")
    w.signals(4)
    period_close(period_id=w.period(1).pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    for _ in range(3):
        w.signal(at=datetime(2026, 2, 10, tzinfo=UTC))
    balance = balance_compute(w.customer, now=datetime(2026, 2, 15, tzinfo=UTC))
    # January drew 40.00 at close; February's 3 x 10.00 = 30.00 would draw now.
    drawn = -sum(e.amount for e in g.entries.exclude(kind=CreditLedgerEntry.Kind.GRANT))
    assert drawn == balance.used_closed == D("40.00")
    assert (balance.granted, balance.used_open, balance.remaining) == (
        D("100.00"),
        D("30.00"),
        D("30.00"),
    )
    assert (balance.spend_open, balance.spend_period, balance.overage_open) == (
        D("30.00"),
        D("30.00"),
        D("0"),
    )
    assert balance.period_starts_at == FEB


def test_a_period_in_its_grace_draws_before_the_current_one():
    w = World(unit_price=D("10.00"))  # grace: 24 hours
    grant(w.customer, "100.00")
    w.signals(8)  # January: 80.00
    for _ in range(3):
        w.signal(at=datetime(2026, 2, 1, 3, tzinfo=UTC))  # February: 30.00
    now = datetime(2026, 2, 1, 6, tzinfo=UTC)  # January not closed yet
    balance = balance_compute(w.customer, now=now)
    # January closes first and draws 80.00; February then finds 20.00 of its 30.00.
    # (Previewed alone, February would draw 30.00: the credit would be counted twice.)
    assert invoice_preview(period=w.period(2)).credits_applied == D("30.00")
    assert (balance.used_open, balance.remaining) == (D("100.00"), D("0"))
    assert (balance.spend_open, balance.overage_open) == (D("110.00"), D("10.00"))
    assert balance.spend_period == D("30.00")  # February's alone, for a spend limit
    assert balance.period_starts_at == FEB


def test_two_agreements_draw_one_set_of_credits():
    w = World(unit_price=D("10.00"))
    other = second_agreement(w, unit_price="5.00")
    grant(w.customer, "100.00")
    w.signals(6)  # 60.00
    other(10)  # 50.00
    balance = balance_compute(w.customer, now=T0)
    # Each previewed alone would draw 60.00 and 50.00 = 110.00 from a grant of 100.00.
    assert (balance.spend_open, balance.used_open, balance.overage_open) == (
        D("110.00"),
        D("100.00"),
        D("10.00"),
    )
    assert balance.remaining == D("0")
    assert balance.grants[0]["used_open"] == "100.00"


def test_an_outcome_grant_is_shown_in_outcomes():
    # up to 10 @ 2.00, above @ 1.00: 15 outcomes = 25.00; 12 granted outcomes cover the
    # first 12 = 10 x 2.00 + 2 x 1.00 = 22.00; 3.00 overage.
    w = World(model="graduated", tiers=[(0, 10, D("2.00")), (10, None, D("1.00"))])
    grant(w.customer, "12", unit="outcomes", outcome_definition=w.outcome, name="Docs")
    w.signals(15)
    balance = balance_compute(w.customer, now=T0)
    row = balance.grants[0]
    assert (row["unit"], row["outcome"], row["amount"]) == ("outcomes", w.outcome.name, "12")
    assert (row["used_open"], row["available"], row["value_open"]) == ("12", "0", "22.00")
    assert (balance.granted, balance.remaining) == (D("0"), D("0"))  # no money credits
    assert (balance.spend_open, balance.overage_open) == (D("25.00"), D("3.00"))


def test_a_yen_customer_in_whole_yen():
    w = World(unit_price=D("1250"), currency="JPY")
    grant(w.customer, "50000")
    w.signals(3)
    row = balance_compute(w.customer, now=T0).grants[0]
    assert (row["amount"], row["used_open"], row["available"]) == ("50000", "3750", "46250")


def test_computing_writes_nothing_and_creates_no_period():
    w = World(unit_price=D("10.00"))  # periods exist up to February
    grant(w.customer, "100.00")
    w.signals(2)
    w.signal(at=datetime(2026, 3, 5, tzinfo=UTC))
    before = written_rows()
    balance = balance_compute(w.customer, now=datetime(2026, 3, 10, tzinfo=UTC))
    # January (20.00), February (0) and March (10.00, not created yet) are all open.
    assert (balance.spend_open, balance.used_open, balance.spend_period) == (
        D("30.00"),
        D("30.00"),
        D("10.00"),
    )
    assert written_rows() == before
