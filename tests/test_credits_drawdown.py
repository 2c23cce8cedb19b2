"""Drawdown at close, computed by hand: two grants with different expiries, a partial
period, fees, tax on the net after credits, outcome-denominated grants against a
graduated price, void and reissue."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from billing.models import CreditGrant, CreditLedgerEntry
from billing.services import invoice_preview, invoice_void_and_reissue, period_close
from tests import factories as f
from tests.billing_helpers import World
from tests.credit_helpers import grant, ledger_sum

pytestmark = pytest.mark.django_db

FEB = datetime(2026, 2, 1, tzinfo=UTC)


def lines(invoice):
    return [(line.kind, line.amount) for line in invoice.lines.order_by("position")]


def test_two_grants_are_drawn_soonest_expiry_first_and_the_rest_is_overage():
    w = World(unit_price=D("10.00"))
    later = grant(w.customer, "100.00", name="Annual")  # never expires
    sooner = grant(w.customer, "50.00", name="January promo", expires_at=FEB)
    w.signals(17)
    invoice = period_close(period_id=w.period(1).pk)
    # 17 x 10.00 = 170.00; January promo 50.00 first, then Annual 100.00; 20.00 overage.
    assert lines(invoice) == [
        ("outcome", D("170.00")),
        ("credits_applied", D("-50.00")),
        ("credits_applied", D("-100.00")),
    ]
    assert invoice.net == D("20.00") and invoice.total == D("20.00")
    sooner.refresh_from_db()
    later.refresh_from_db()
    assert (sooner.remaining, later.remaining) == (D("0"), D("0"))
    drawn = CreditLedgerEntry.objects.filter(invoice=invoice, kind="drawdown")
    assert sorted((e.grant_id, e.amount) for e in drawn) == sorted(
        [(sooner.pk, D("-50.00")), (later.pk, D("-100.00"))]
    )
    assert ledger_sum(sooner) == sooner.remaining and ledger_sum(later) == later.remaining


def test_credits_left_stay_for_the_next_period_and_tax_is_on_the_net_after_credits():
    rate = f.TaxRateFactory(percent=D("20"))
    w = World(unit_price=D("10.00"), agreement_kwargs={"tax_rate": rate})
    g = grant(w.customer, "100.00")
    w.signals(3)
    invoice = period_close(period_id=w.period(1).pk)
    # 30.00 charged, all from credits: net 0.00, tax 0.00; 70.00 left.
    assert (invoice.net, invoice.tax, invoice.total) == (D("0.00"), D("0.00"), D("0.00"))
    g.refresh_from_db()
    assert g.remaining == D("70.00")


def test_a_partial_first_period_draws_its_prorated_fee_only_from_a_grant_for_fees():
    # The agreement ends on 16 January (inclusive): its last period is 1-17 January, 16
    # of 31 days; a platform fee of 31.00 is prorated to 16.00.
    w = World(
        unit_price=D("2.00"),
        agreement_kwargs={"platform_fee": D("31.00"), "ends_on": date(2026, 1, 16)},
    )
    outcomes_only = grant(w.customer, "5.00", name="Outcomes", priority=1)
    with_fees = grant(w.customer, "20.00", name="Everything", priority=2, applies_to_fees=True)
    w.signals(4)
    period = w.agreement.periods.get()
    assert period.ends_at == datetime(2026, 1, 17, tzinfo=UTC)
    invoice = period_close(period_id=period.pk)
    # outcomes 4 x 2.00 = 8.00, fee 16.00: "Outcomes" pays 5.00 of the outcomes, then
    # "Everything" the other 3.00 and 16.00 of the fee = 19.00; net 0.00 left 1.00.
    assert lines(invoice) == [
        ("outcome", D("8.00")),
        ("platform_fee", D("16.00")),
        ("credits_applied", D("-5.00")),
        ("credits_applied", D("-19.00")),
    ]
    assert invoice.net == D("0.00")
    outcomes_only.refresh_from_db()
    with_fees.refresh_from_db()
    assert (outcomes_only.remaining, with_fees.remaining) == (D("0"), D("1.00"))


def test_an_outcome_grant_against_a_graduated_price_covers_the_first_outcomes():
    # up to 10 @ 2.00, above @ 1.00; 15 outcomes = 20.00 + 5.00 = 25.00. A grant of 12
    # outcomes covers the first 12: 10 x 2.00 + 2 x 1.00 = 22.00; 3.00 overage.
    w = World(model="graduated", tiers=[(0, 10, D("2.00")), (10, None, D("1.00"))])
    g = grant(w.customer, "12", unit="outcomes", outcome_definition=w.outcome)
    w.signals(15)
    invoice = period_close(period_id=w.period(1).pk)
    assert lines(invoice) == [("outcome", D("25.00")), ("credits_applied", D("-22.00"))]
    assert invoice.lines.get(kind="credits_applied").quantity == D("12")
    g.refresh_from_db()
    assert g.remaining == D("0")
    entry = g.entries.get(kind="drawdown")
    assert (entry.amount, entry.value) == (D("-12"), D("-22.00"))


def test_void_and_reissue_gives_the_credits_back_and_draws_them_again_exactly():
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "100.00")
    w.signals(4)
    first = period_close(period_id=w.period(1).pk)
    g.refresh_from_db()
    assert g.remaining == D("60.00")
    w.signals(2)  # late signals of January, billed by the reissue
    second = invoice_void_and_reissue(invoice_id=first.pk, reason="late data")
    g.refresh_from_db()
    # 4 drawn (40.00), given back (+40.00), 6 drawn by the reissue (60.00): 40.00 left.
    assert [(e.kind, e.amount) for e in g.entries.order_by("pk")] == [
        ("grant", D("100.00")),
        ("drawdown", D("-40.00")),
        ("reversal", D("40.00")),
        ("drawdown", D("-60.00")),
    ]
    assert g.remaining == D("40.00") == ledger_sum(g)
    assert lines(second) == [("outcome", D("60.00")), ("credits_applied", D("-60.00"))]


def test_a_preview_shows_the_credits_and_draws_nothing():
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "25.00")
    w.signals(3)
    draft = invoice_preview(period=w.period(1))
    assert draft.credits_applied == D("25.00") and draft.net == D("5.00")
    g.refresh_from_db()
    assert g.remaining == D("25.00")
    assert CreditGrant.objects.get().entries.count() == 1
