"""Accepting a dispute credits exactly what its outcomes added to the invoice, priced as
the invoice priced them (hand-computed): per outcome, a graduated tier boundary, a
partial, percent of value, the minimum true-up; nothing when they added nothing."""

from decimal import Decimal as D

import pytest

from billing.disputes import dispute_accept, dispute_open
from billing.errors import DisputeError
from billing.models import BilledSignal, CreditNote, Dispute, MarginFigure
from billing.services import period_close
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


def close(world, month=1):
    return period_close(period_id=world.period(month).pk)


def dispute(world, *signals, reason="not resolved"):
    return dispute_open(
        customer_id=world.customer.pk, signal_ids=[s.pk for s in signals], reason=reason
    )


def accept(d):
    return dispute_accept(dispute_id=d.pk, note="checked the logs")


def credited(d):
    return {o.signal_id: o.credited for o in d.outcomes.all()}


def test_a_per_outcome_price_credits_the_unit_price():
    w = World(unit_price=D("5.00"))
    signals = w.signals(10)
    invoice = close(w)
    assert invoice.total == D("50.00")
    d = accept(dispute(w, signals[3]))
    note = d.credit_note
    # 10 x 5.00 = 50.00, without it 9 x 5.00 = 45.00: 5.00
    assert (note.net, note.total, note.invoice_id) == (D("5.00"), D("5.00"), invoice.pk)
    assert [(line.invoice_line.kind, line.amount) for line in note.lines.all()] == [
        ("outcome", D("5.00"))
    ]
    assert credited(d) == {signals[3].pk: D("5.00")}
    invoice.refresh_from_db()
    assert invoice.amount_credited == D("5.00") and invoice.amount_due == D("45.00")
    mark = BilledSignal.objects.get(signal=signals[3])
    assert (mark.outcome, mark.counted) == ("disputed", False)
    assert d.state == Dispute.State.ACCEPTED and d.resolution_note == "checked the logs"


def test_a_graduated_tier_boundary_credits_the_price_of_the_last_unit_not_the_first():
    # tiers: up to 10 @ 2.00 (inclusive), above @ 1.00 (billing/pricing.py: units 1-10 at
    # 2.00, the 11th at 1.00). 11 outcomes: 20.00 + 1.00 = 21.00; 10: 20.00. Credit 1.00,
    # although the disputed outcome was the first one.
    w = World(model="graduated", tiers=[(0, 10, D("2.00")), (10, None, D("1.00"))])
    signals = w.signals(11)
    assert close(w).total == D("21.00")
    d = accept(dispute(w, signals[0]))
    assert d.credit_note.net == D("1.00")
    # A second dispute on the same invoice: 10 -> 9 outcomes, all at 2.00: 2.00.
    d2 = accept(dispute(w, signals[1]))
    assert d2.credit_note.net == D("2.00")
    assert CreditNote.objects.count() == 2


def test_a_partial_credits_its_fraction_of_the_price():
    w = World(unit_price=D("10.00"), partial_rule="fixed")  # partials count 0.4
    w.signals(2)
    partial = w.signal("partial")
    assert close(w).total == D("24.00")  # 2 + 0.4 = 2.4 x 10.00
    d = accept(dispute(w, partial))
    assert d.credit_note.net == D("4.00")  # 0.4 x 10.00
    assert credited(d) == {partial.pk: D("4.00")}


def test_a_percent_of_value_outcome_credits_8_percent_of_its_value():
    w = World(
        model="percent_of_value", percent_of_value=D(8), value_field="recovered", unit_price=None
    )
    w.signal(recovered=100)
    disputed = w.signal(recovered=250.50)
    assert close(w).total == D("28.04")  # 8% of 350.50
    d = accept(dispute(w, disputed))
    assert d.credit_note.net == D("20.04")  # 8% of 250.50; 28.04 - 8.00
    assert credited(d) == {disputed.pk: D("20.04")}


def test_inside_the_minimum_commitment_the_true_up_rises_and_the_credit_is_what_is_above():
    # Minimum 100, 120 outcomes @ 1.00: 120.00, no true-up. Disputing 30 leaves 90.00 and a
    # true-up of 10.00: the invoice would have had 100.00, so the credit is 20.00, all on
    # the outcome line (credit lines are positive).
    w = World(unit_price=D("1.00"), agreement_kwargs={"minimum_commitment": D(100)})
    signals = w.signals(120)
    assert close(w).total == D("120.00")
    d = accept(dispute(w, *signals[:30]))
    assert d.credit_note.net == D("20.00")
    assert [line.amount for line in d.credit_note.lines.all()] == [D("20.00")]
    shares = credited(d)
    # 20.00 over 30 equal outcomes: 0.66 each, the 20 cents left to the first 20.
    assert sum(shares.values()) == D("20.00")
    assert sorted(set(shares.values())) == [D("0.66"), D("0.67")]


def test_an_outcome_under_the_included_quantity_is_accepted_without_a_credit_note():
    w = World(unit_price=D("3.00"), included_quantity=D(5))
    signals = w.signals(4)
    assert close(w).total == D("0.00")
    d = accept(dispute(w, signals[0]))
    assert d.state == Dispute.State.ACCEPTED and d.credit_note is None
    assert credited(d) == {signals[0].pk: D("0")}
    assert not CreditNote.objects.exists()


def test_margins_lose_the_credited_revenue_keep_the_cost_and_show_it_as_disputed():
    from tests import factories as f

    w = World(unit_price=D("5.00"))
    signals = w.signals(4)
    f.CostFactory(agent=w.agent, customer=w.customer, signal=signals[0], amount=D("1.50"))
    f.CostFactory(agent=w.agent, customer=w.customer, signal=signals[1], amount=D("0.50"))
    close(w)
    figure = MarginFigure.objects.get()
    assert (figure.revenue, figure.cost, figure.successes) == (D("20.00"), D("2.00"), 4)
    accept(dispute(w, signals[0]))
    figure.refresh_from_db()
    # revenue 20.00 - 5.00 credited; cost unchanged, 1.50 of it the disputed outcome's.
    assert (figure.revenue, figure.revenue_credited) == (D("15.00"), D("5.00"))
    assert (figure.cost, figure.cost_of_disputes, figure.margin) == (
        D("2.00"),
        D("1.50"),
        D("13.00"),
    )
    assert (figure.successes, figure.disputed) == (3, 1)


def test_a_dispute_is_accepted_once():
    w = World(unit_price=D("5.00"))
    signals = w.signals(2)
    close(w)
    d = accept(dispute(w, signals[0]))
    with pytest.raises(DisputeError, match=rf"dispute {d.pk} was accepted on"):
        accept(d)
    assert CreditNote.objects.count() == 1


@pytest.mark.parametrize(
    "edit,line",
    [
        ({"unit_price": D("20.00")}, "was 50.00 USD, would be 200.00 USD"),
        ({"minimum_commitment": D("100.00")}, "was 0.00 USD, would be 50.00 USD"),
    ],
)
def test_an_invoice_whose_agreement_changed_since_is_not_recomputed(edit, line):
    """The invoice billed 10 x 5.00; the price (or the minimum) was edited afterwards:
    recomputing would credit at today's terms (20.00 an outcome, or nothing under the
    new minimum), so acceptance is refused, naming the line, and nothing changes."""
    w = World(unit_price=D("5.00"))
    signals = w.signals(10)
    invoice = close(w)
    target = w.price if "unit_price" in edit else w.agreement
    for name, value in edit.items():
        setattr(target, name, value)
    target.save()
    d = dispute(w, signals[0])
    with pytest.raises(DisputeError, match=line):
        accept(d)
    d.refresh_from_db()
    assert d.state == Dispute.State.OPEN and not CreditNote.objects.exists()
    assert BilledSignal.objects.get(signal=signals[0]).outcome == "success"
    invoice.refresh_from_db()
    assert invoice.amount_credited == 0


def test_a_second_dispute_still_recomputes_the_invoice_as_issued():
    # 10 x 5.00 = 50.00; dispute one (5.00), then another: the invoice as issued still
    # gives 50.00 with the first outcome as it was billed, so the second credits 5.00.
    w = World(unit_price=D("5.00"))
    signals = w.signals(10)
    close(w)
    accept(dispute(w, signals[0]))
    second = accept(dispute(w, signals[1]))
    assert second.credit_note.net == D("5.00")
