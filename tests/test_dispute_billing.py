"""An accepted disputed outcome is never billed again: not as a late signal, not on its
open period's invoice (preview agrees with close), not by a later step of its workflow,
not by the reissue of a voided invoice; an open dispute follows its outcomes to the
reissue."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from billing.disputes import dispute_accept, dispute_open
from billing.models import BilledSignal, Dispute, InvoiceLine
from billing.services import invoice_preview, invoice_void_and_reissue, period_close
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db
FEB = datetime(2026, 2, 3, tzinfo=UTC)


def close(world, month=1):
    return period_close(period_id=world.period(month).pk)


def accepted(world, *signals):
    d = dispute_open(
        customer_id=world.customer.pk, signal_ids=[s.pk for s in signals], reason="not done"
    )
    return dispute_accept(dispute_id=d.pk)


def outcome_line(invoice):
    return invoice.lines.get(kind=InvoiceLine.Kind.OUTCOME)


def test_a_disputed_outcome_of_the_open_period_is_not_on_its_invoice_and_preview_agrees():
    w = World(unit_price=D("5.00"))
    signals = w.signals(4)
    d = accepted(w, signals[0])
    assert d.credit_note is None and d.invoice is None
    preview = invoice_preview(period=w.period())
    invoice = close(w)
    # 3 of 4 outcomes charged: 15.00, in the preview as on the invoice
    assert preview.net == invoice.net == D("15.00")
    assert outcome_line(invoice).successes == 3
    assert [m.disputed for m in preview.margins] == [1]
    mark = BilledSignal.objects.get(signal=signals[0])
    assert (mark.outcome, mark.counted, mark.invoice_id) == ("disputed", False, invoice.pk)


def test_a_late_disputed_outcome_is_never_billed_by_the_next_invoice():
    w = World(unit_price=D("5.00"))
    w.signals(2)
    close(w)
    late = w.signal()  # occurred in January, arrives after January closed
    other_late = w.signal()
    accepted(w, late)
    w.signal(at=FEB)
    preview = invoice_preview(period=w.period(2))
    february = close(w, 2)
    adjustments = february.lines.filter(kind=InvoiceLine.Kind.ADJUSTMENT)
    # one late signal billed (5.00), the disputed one not
    assert [(a.successes, a.amount) for a in adjustments] == [(1, D("5.00"))]
    assert february.net == preview.net == D("10.00")
    assert BilledSignal.objects.get(signal=late).outcome == "disputed"
    assert BilledSignal.objects.get(signal=other_late).counted


def test_disputing_a_workflows_counted_outcome_never_counts_a_later_step_instead():
    w = World(unit_price=D("5.00"), per_workflow=True)
    first = w.signal(workflow="w1")
    w.signal(workflow="w2")
    january = close(w)
    assert outcome_line(january).successes == 2
    accepted(w, first)
    w.signal(workflow="w1")  # a later step of w1, late
    w.signal(workflow="w3", at=FEB)
    preview = invoice_preview(period=w.period(2))
    february = close(w, 2)
    assert not february.lines.filter(kind=InvoiceLine.Kind.ADJUSTMENT).exists()
    assert february.net == preview.net == D("5.00")  # w3 only


def test_an_open_dispute_follows_its_outcomes_to_the_reissued_invoice():
    w = World(unit_price=D("5.00"))
    signals = w.signals(3)
    invoice = close(w)
    d = dispute_open(customer_id=w.customer.pk, signal_ids=[signals[0].pk], reason="x")
    reissue = invoice_void_and_reissue(invoice_id=invoice.pk, reason="wrong address")
    d = dispute_accept(dispute_id=d.pk)
    assert d.invoice_id == reissue.pk and d.credit_note.invoice_id == reissue.pk
    assert d.credit_note.net == D("5.00")


def test_the_reissue_of_a_voided_invoice_does_not_bill_an_accepted_disputed_outcome():
    # Inside the minimum the dispute credits nothing (15.00 + true-up 85.00, or 10.00 +
    # 90.00): the invoice stays voidable, and its reissue leaves the disputed outcome out.
    w = World(unit_price=D("5.00"), agreement_kwargs={"minimum_commitment": D(100)})
    signals = w.signals(3)
    invoice = close(w)
    assert invoice.net == D("100.00")
    d = accepted(w, signals[0])
    assert d.state == Dispute.State.ACCEPTED and d.credit_note is None
    reissue = invoice_void_and_reissue(invoice_id=invoice.pk, reason="wrong address")
    assert (outcome_line(reissue).successes, outcome_line(reissue).amount) == (2, D("10.00"))
    assert BilledSignal.objects.get(signal=signals[0]).outcome == "disputed"
