"""Prepaid credits in margins and in the journal export (hand-computed): paid credits
leave a period's revenue as charged, promotional credits lower it; credits applied and
credit purchases book to the prepaid credits account."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from billing.models import MarginFigure
from billing.services import period_close
from tests.billing_helpers import World
from tests.credit_helpers import grant
from tests.journal_helpers import journal_dicts

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "revenue"),
    [("paid", D("50.00")), ("promotional", D("30.00"))],
)
def test_paid_credits_keep_the_revenue_and_promotional_credits_lower_it(kind, revenue):
    w = World(unit_price=D("10.00"))
    grant(w.customer, "20.00", kind=kind)
    w.signals(5)
    invoice = period_close(period_id=w.period(1).pk)
    assert invoice.net == D("30.00")  # 50.00 charged, 20.00 of credits
    figure = MarginFigure.objects.get(invoice=invoice)
    assert figure.revenue == revenue


def test_credits_applied_and_a_top_up_book_to_the_prepaid_credits_account():
    w = World(unit_price=D("10.00"))
    grant(w.customer, "20.00")
    grant(
        w.customer,
        "100.00",
        name="Top-up",
        source="top_up",
        purchase_price=D("90.00"),
        effective_at=datetime(2026, 3, 1, tzinfo=UTC),  # not live for January
    )
    w.signals(5)
    invoice = period_close(period_id=w.period(1).pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    # outcome 50.00; top-up purchase 90.00; credits -20.00: net 120.00.
    assert sorted((line.kind, line.amount) for line in invoice.lines.all()) == [
        ("credit_purchase", D("90.00")),
        ("credits_applied", D("-20.00")),
        ("outcome", D("50.00")),
    ]
    rows = [
        (r["account_code"], r["net"])
        for r in journal_dicts(date(2026, 2, 1), date(2026, 2, 28))
        if r["document_type"] == "invoice"
    ]
    # The prepaid account (2300): +90.00 bought, -20.00 applied = 70.00.
    assert sorted(rows) == [("2300", "70.00"), ("4000", "50.00")]


def test_promotional_credits_book_to_the_discount_account():
    w = World(unit_price=D("10.00"))
    grant(w.customer, "20.00", kind="promotional")
    w.signals(5)
    period_close(period_id=w.period(1).pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    rows = [
        (r["account_code"], r["net"])
        for r in journal_dicts(date(2026, 2, 1), date(2026, 2, 28))
        if r["document_type"] == "invoice"
    ]
    assert sorted(rows) == [("4000", "50.00"), ("4900", "-20.00")]
