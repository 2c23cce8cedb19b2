"""Expired remainders are written off by beat, once, with a ledger entry; a grant waits
while a period of its customer that started before the expiry has no invoice yet, and
is written off after that close drew what it could."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from billing.credits import grants_expire
from billing.models import CreditLedgerEntry
from billing.services import invoice_void, period_close, period_reissue
from billing.tasks import expire_credit_grants
from tests import factories as f
from tests.billing_helpers import World
from tests.credit_helpers import grant, ledger_sum

pytestmark = pytest.mark.django_db

JAN_20 = datetime(2026, 1, 20, tzinfo=UTC)
FEB_2 = datetime(2026, 2, 2, tzinfo=UTC)


def entries(g) -> list:
    return [(e.kind, e.amount, e.balance_after) for e in g.entries.order_by("pk")]


def test_an_expired_remainder_is_written_off_once():
    customer = f.CustomerFactory()  # no agreement: nothing can draw it any more
    g = grant(customer, "50.00", expires_at=JAN_20)
    lasting = grant(customer, "10.00")  # never expires
    assert grants_expire(now=JAN_20 - timedelta(seconds=1)) == 0
    assert grants_expire(now=JAN_20) == 1
    assert grants_expire(now=FEB_2) == 0
    g.refresh_from_db()
    assert g.remaining == D("0") == ledger_sum(g)
    assert entries(g) == [("grant", D("50.00"), D("50.00")), ("expiry", D("-50.00"), D("0"))]
    expiry = g.entries.get(kind="expiry")
    assert (expiry.value, expiry.at, expiry.invoice) == (D("-50.00"), JAN_20, None)
    assert expiry.note == "Expired 2026-01-20 00:00 UTC"
    lasting.refresh_from_db()
    assert lasting.remaining == D("10.00") and lasting.entries.count() == 1


def test_an_outcome_grant_writes_off_outcomes_worth_no_money():
    customer = f.CustomerFactory()
    g = grant(
        customer,
        "40",
        unit="outcomes",
        outcome_definition=f.OutcomeDefinitionFactory(),
        expires_at=JAN_20,
    )
    assert grants_expire(now=FEB_2) == 1
    expiry = g.entries.get(kind="expiry")
    assert (expiry.amount, expiry.value) == (D("-40"), D("0"))


def test_a_grant_waits_for_the_open_period_that_may_draw_it_then_the_rest_expires():
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "50.00", expires_at=JAN_20)
    w.signals(3)
    # January (1 Jan - 1 Feb) started before the expiry and is open: it may still draw.
    assert grants_expire(now=FEB_2) == 0
    g.refresh_from_db()
    assert g.remaining == D("50.00")
    invoice = period_close(period_id=w.period(1).pk)
    # 3 x 10.00 = 30.00 drawn by January's invoice; 20.00 left. February's open period
    # started after the expiry: it cannot draw the grant and does not hold it back.
    assert w.period(2).state == "open"
    assert grants_expire(now=FEB_2) == 1
    g.refresh_from_db()
    assert entries(g) == [
        ("grant", D("50.00"), D("50.00")),
        ("drawdown", D("-30.00"), D("20.00")),
        ("expiry", D("-20.00"), D("0")),
    ]
    assert g.remaining == D("0") == ledger_sum(g)
    assert g.entries.get(kind="drawdown").invoice == invoice
    assert grants_expire(now=FEB_2) == 0


def test_a_voided_period_holds_the_grant_until_its_reissue_draws_again():
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "50.00", expires_at=JAN_20)
    w.signals(2)
    first = period_close(period_id=w.period(1).pk)
    invoice_void(invoice_id=first.pk, reason="late data")  # 20.00 given back: 50.00
    w.signals(2)
    assert grants_expire(now=FEB_2) == 0  # the voided period's reissue may draw it
    period_reissue(period_id=w.period(1).pk)  # 4 x 10.00 = 40.00 drawn
    assert grants_expire(now=FEB_2) == 1
    g.refresh_from_db()
    # 50.00 - 20.00 + 20.00 - 40.00 - 10.00 = 0.
    assert [e[1] for e in entries(g)] == [
        D("50.00"),
        D("-20.00"),
        D("20.00"),
        D("-40.00"),
        D("-10.00"),
    ]
    assert g.remaining == D("0") == ledger_sum(g)


def test_the_beat_task_writes_off_what_expired_by_now():
    customer = f.CustomerFactory()
    g = grant(
        customer,
        "5.00",
        effective_at=timezone.now() - timedelta(days=10),
        expires_at=timezone.now() - timedelta(hours=1),
    )
    assert expire_credit_grants() == 1
    assert expire_credit_grants() == 0
    assert CreditLedgerEntry.objects.filter(grant=g, kind="expiry").count() == 1
