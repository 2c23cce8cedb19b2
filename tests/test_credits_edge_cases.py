"""Edge cases of prepaid credits found in review (each failed before its fix): a
credited top-up takes its credits back, an outcome grant pays only what is left, expiry
never writes off what a void gave back for its reissue, credits given back never cancel a
charge of another tax rate, and huge amounts are refused with a message."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from billing.credit_grants import grant_problems
from billing.credit_notes import CreditRequest, credit_note_issue
from billing.credits import grants_expire
from billing.disputes import dispute_accept, dispute_open
from billing.errors import CreditNoteError
from billing.models import CreditGrant, CreditNote, CreditNoteTax, InvoiceTax
from billing.services import invoice_void, period_close, period_reissue
from tests import factories as f
from tests.billing_helpers import JAN, World
from tests.credit_helpers import grant, ledger_sum

pytestmark = pytest.mark.django_db

FEB = datetime(2026, 2, 1, tzinfo=UTC)


def two_rates(w, rate_of_other):
    """A second outcome ("Filing", 10 x 10.00) on the World's agreement."""
    filed = f.OutcomeDefinitionFactory(agent=w.agent, name="Filing", event_name="filed")
    f.OutcomeCriterionFactory(definition=filed)
    f.PriceFactory(
        agreement=w.agreement,
        outcome_definition=filed,
        unit_price=D("10.00"),
        tax_rate=rate_of_other,
    )
    for _ in range(10):
        f.SignalFactory(
            agent=w.agent,
            customer=w.customer,
            event_name="filed",
            occurred_at=JAN,
            data={"status": "ok"},
        )


def test_crediting_a_top_up_purchase_takes_its_credits_back():
    w = World(unit_price=D("10.00"))
    top_up = grant(w.customer, "100.00", name="Top-up", source="top_up", purchase_price=D("100.00"))
    w.signals(4)  # 40.00, paid by the top-up bought on the same invoice
    invoice = period_close(period_id=w.period(1).pk)
    assert invoice.total == D("100.00")  # purchase 100.00 + outcomes 40.00 - credits 40.00
    note = credit_note_issue(invoice_id=invoice.pk, reason="cancel the order")
    assert note.total == D("100.00")
    top_up.refresh_from_db()
    # 40.00 given back, then all 100.00 bought taken off: nothing left.
    assert top_up.remaining == D("0") == ledger_sum(top_up)
    assert [e.kind for e in top_up.entries.order_by("pk")] == [
        "grant",
        "drawdown",
        "reversal",
        "cancellation",
    ]


def test_a_used_top_up_cannot_be_credited_in_full():
    w = World(unit_price=D("10.00"))
    top_up = grant(w.customer, "100.00", name="Top-up", source="top_up", purchase_price=D("80.00"))
    w.signals(4)
    invoice = period_close(period_id=w.period(1).pk)
    purchase = invoice.lines.get(kind="credit_purchase")
    with pytest.raises(CreditNoteError, match=r"at most 48\.00 USD of the purchase"):
        credit_note_issue(
            invoice_id=invoice.pk, reason="refund", lines=[CreditRequest(purchase.pk)]
        )
    assert not CreditNote.objects.exists()
    top_up.refresh_from_db()
    assert top_up.remaining == D("60.00")
    # What is left of it, 60.00 of 100.00 bought for 80.00: 48.00 may be credited.
    credit_note_issue(
        invoice_id=invoice.pk, reason="refund", lines=[CreditRequest(purchase.pk, "48.00")]
    )
    top_up.refresh_from_db()
    assert top_up.remaining == D("0") == ledger_sum(top_up)


def test_an_outcome_grant_drawn_after_a_money_grant_pays_only_what_is_left():
    w = World(unit_price=D("10.00"))
    grant(w.customer, "25.00", name="Promo", expires_at=FEB)  # drawn first
    outcomes = grant(w.customer, "3", unit="outcomes", outcome_definition=w.outcome)
    w.signals(3)  # 30.00: 25.00 from the promo, 5.00 = half an outcome from the other
    period_close(period_id=w.period(1).pk)
    entry = outcomes.entries.get(kind="drawdown")
    assert (entry.amount, entry.value) == (D("-0.5"), D("-5.00"))
    outcomes.refresh_from_db()
    assert outcomes.remaining == D("2.5")


def test_expiry_never_writes_off_what_a_void_just_gave_back(monkeypatch):
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "100.00", expires_at=FEB)
    w.signals(4)
    invoice = period_close(period_id=w.period(1).pk)  # 40.00 drawn, 60.00 left
    # The expiry run finds the grant due; before it locks it, January is voided.
    original = CreditGrant.objects.select_for_update
    fired = []

    def locking(*args, **kwargs):
        if not fired:
            fired.append(True)
            invoice_void(invoice_id=invoice.pk, reason="wrong data")
        return original(*args, **kwargs)

    monkeypatch.setattr(CreditGrant.objects, "select_for_update", locking)
    assert grants_expire(now=datetime(2026, 2, 10, tzinfo=UTC)) == 0
    monkeypatch.undo()
    reissue = period_reissue(period_id=w.period(1).pk)
    assert reissue.total == D("0.00")  # paid by the credits the void gave back
    assert grants_expire(now=datetime(2026, 2, 10, tzinfo=UTC)) == 1
    g.refresh_from_db()
    assert g.remaining == D("0") == ledger_sum(g)
    assert g.entries.get(kind="expiry").amount == D("-60.00")


def test_credits_given_back_at_one_rate_never_cancel_a_charge_of_another():
    a = f.TaxRateFactory(name="A 20%", percent=D("20"))
    zero = f.TaxRateFactory(name="B 0%", percent=D("0"))
    w = World(unit_price=D("10.00"), tax_rate=a, agreement_kwargs={"tax_rate": zero})
    w.signals(10)  # A: 100.00 at 20%
    two_rates(w, None)  # B: 100.00 at the agreement's 0%
    grant(w.customer, "100.00")
    invoice = period_close(period_id=w.period(1).pk)
    by = {(line.kind, line.tax_rate_id): line for line in invoice.lines.all()}
    assert (invoice.net, invoice.tax) == (D("100.00"), D("0.00"))  # credits paid A
    with pytest.raises(CreditNoteError, match="at A 20% the credit note would give back"):
        credit_note_issue(
            invoice_id=invoice.pk,
            reason="B was not delivered",
            lines=[
                CreditRequest(by[("outcome", zero.pk)].pk, "100.00"),
                CreditRequest(by[("credits_applied", a.pk)].pk, "100.00"),
            ],
        )
    assert not CreditNote.objects.exists()


def test_a_dispute_gives_credits_back_at_the_rate_of_the_disputed_outcomes():
    zero = f.TaxRateFactory(name="A 0%", percent=D("0"))
    vat = f.TaxRateFactory(name="B 20%", percent=D("20"))
    w = World(unit_price=D("10.00"), tax_rate=zero, agreement_kwargs={"tax_rate": vat})
    disputed = w.signals(10)  # A: 100.00 at 0%
    two_rates(w, None)  # B: 100.00 at 20%
    grant(w.customer, "300.00")  # pays both: -100.00 at 0%, -100.00 at 20%
    invoice = period_close(period_id=w.period(1).pk)
    assert (invoice.net, invoice.tax) == (D("0.00"), D("0.00"))
    d = dispute_open(
        customer_id=w.customer.pk, signal_ids=[s.pk for s in disputed[:5]], reason="dup"
    )
    note = dispute_accept(dispute_id=d.pk, note="ok").credit_note
    rows = sorted(
        (line.invoice_line.kind, line.invoice_line.tax_rate_id, line.amount)
        for line in note.lines.all()
    )
    assert rows == [("credits_applied", zero.pk, D("-50.00")), ("outcome", zero.pk, D("50.00"))]
    charged = InvoiceTax.objects.get(invoice=invoice, tax_rate=vat)
    assert not CreditNoteTax.objects.filter(credit_note=note, tax_rate=vat).exists()
    assert charged.net == D("0.00")


@pytest.mark.parametrize("field", ["amount", "purchase_price"])
def test_a_huge_amount_is_a_problem_not_a_crash(field):
    customer = f.CustomerFactory(currency="USD")
    values = {"name": "Big", "amount": D("10.00"), "effective_at": FEB, field: D("1e30")}
    assert field in grant_problems(customer=customer, values=values)
