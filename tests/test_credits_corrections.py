"""Credit notes and accepted disputes give prepaid credits back to the grants they came
from (hand-computed); the ledger adds up."""

import re
from decimal import Decimal as D

import pytest
from django.urls import reverse

from billing.credit_notes import CreditRequest, credit_note_issue, credit_note_issue_once
from billing.disputes import dispute_accept, dispute_open
from billing.errors import CreditNoteError, StateError
from billing.models import CreditLedgerEntry
from billing.services import invoice_void, period_close
from tests import factories as f
from tests.billing_helpers import World
from tests.credit_helpers import grant, ledger_sum
from tests.receivables_helpers import staff

pytestmark = pytest.mark.django_db


def closed(w):
    invoice = period_close(period_id=w.period(1).pk)
    return invoice, {line.kind: line for line in invoice.lines.all()}


def test_a_full_credit_of_an_invoice_paid_by_credits_gives_them_all_back():
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "100.00")
    w.signals(4)
    invoice, _ = closed(w)
    assert invoice.total == D("0.00")
    note = credit_note_issue(invoice_id=invoice.pk, reason="wrong customer")
    # outcome 40.00 credited, credits applied -40.00 given back: a 0.00 credit note.
    assert sorted((line.invoice_line.kind, line.amount) for line in note.lines.all()) == [
        ("credits_applied", D("-40.00")),
        ("outcome", D("40.00")),
    ]
    assert (note.net, note.total) == (D("0.00"), D("0.00"))
    g.refresh_from_db()
    assert g.remaining == D("100.00") == ledger_sum(g)
    back = g.entries.get(kind="reversal")
    assert (back.amount, back.credit_note_id, back.invoice_id) == (D("40.00"), note.pk, invoice.pk)
    # Its 0.00 credit note still stands: the invoice is credited, not voided.
    with pytest.raises(StateError, match=r"has credit notes of 0\.00 USD"):
        invoice_void(invoice_id=invoice.pk, reason="again")
    g.refresh_from_db()
    assert g.remaining == D("100.00")


def test_a_partial_credit_gives_back_the_credits_named_and_credits_the_rest_in_money():
    rate = f.TaxRateFactory(percent=D("20"))
    w = World(unit_price=D("10.00"), agreement_kwargs={"tax_rate": rate})
    g = grant(w.customer, "60.00")
    w.signals(10)
    invoice, by_kind = closed(w)
    # 100.00 - 60.00 credits = 40.00 net, 8.00 tax, 48.00.
    assert (invoice.net, invoice.tax, invoice.total) == (D("40.00"), D("8.00"), D("48.00"))
    note = credit_note_issue(
        invoice_id=invoice.pk,
        reason="5 outcomes were tests",
        lines=[
            CreditRequest(by_kind["outcome"].pk, "50.00"),
            CreditRequest(by_kind["credits_applied"].pk, "20.00"),
        ],
    )
    # 50.00 - 20.00 = 30.00 net, 6.00 tax: 36.00 back in money, 20.00 of credits back.
    assert (note.net, note.tax, note.total) == (D("30.00"), D("6.00"), D("36.00"))
    g.refresh_from_db()
    assert g.remaining == D("20.00") == ledger_sum(g)
    invoice.refresh_from_db()
    assert invoice.amount_due == D("12.00")


def test_crediting_a_line_paid_by_credits_gives_the_credits_back_not_money():
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "100.00")
    w.signals(4)
    invoice, by_kind = closed(w)
    note = credit_note_issue(
        invoice_id=invoice.pk,
        reason="one outcome was a test",
        lines=[CreditRequest(by_kind["outcome"].pk, "10.00")],
    )
    # The outcome was paid by credits: 10.00 of them go back, nothing in money.
    assert sorted((line.invoice_line.kind, line.amount) for line in note.lines.all()) == [
        ("credits_applied", D("-10.00")),
        ("outcome", D("10.00")),
    ]
    assert note.total == D("0.00")
    g.refresh_from_db()
    assert g.remaining == D("70.00") == ledger_sum(g)
    with pytest.raises(CreditNoteError, match=r"at most 30\.00 USD"):
        credit_note_issue(
            invoice_id=invoice.pk,
            reason="x",
            lines=[
                CreditRequest(by_kind["outcome"].pk, "30.00"),
                CreditRequest(by_kind["credits_applied"].pk, "31.00"),
            ],
        )
    assert CreditLedgerEntry.objects.filter(kind="reversal").count() == 1


def test_an_outcome_paid_by_credits_beside_a_cash_fee_is_credited_in_credits():
    # Found in review: a 4.00 ticket paid by credits, a 500.00 fee paid in money;
    # crediting the ticket alone refunded 4.00 of money and left the credits spent.
    w = World(unit_price=D("4.00"), agreement_kwargs={"platform_fee": D("500.00")})
    g = grant(w.customer, "4.00")  # outcome charges only
    w.signals(1)
    invoice, by_kind = closed(w)
    assert (invoice.net, invoice.total) == (D("500.00"), D("500.00"))
    request = dict(
        invoice_id=invoice.pk,
        reason="the ticket was not resolved",
        lines=[CreditRequest(by_kind["outcome"].pk)],
        reference="ticket-1",
    )
    note, created = credit_note_issue_once(**request)
    assert created and (note.net, note.total) == (D("0.00"), D("0.00"))
    g.refresh_from_db()
    assert g.remaining == D("4.00") == ledger_sum(g)
    invoice.refresh_from_db()
    assert invoice.amount_due == D("500.00")
    # The same request again (its reference) is the same note, not a second one.
    assert credit_note_issue_once(**request) == (note, False)


def test_credits_that_also_paid_fees_may_stay_on_the_fee_when_an_outcome_is_credited():
    # 300.00 of credits (fees too) paid the 4.00 ticket and 296.00 of the 500.00 fee;
    # crediting the ticket leaves them on the fee: the customer paid 204.00 in money
    # for 500.00 of fee, so the 4.00 credited comes back in money.
    w = World(unit_price=D("4.00"), agreement_kwargs={"platform_fee": D("500.00")})
    g = grant(w.customer, "300.00", applies_to_fees=True)
    w.signals(1)
    invoice, by_kind = closed(w)
    assert invoice.total == D("204.00")
    note = credit_note_issue(
        invoice_id=invoice.pk, reason="x", lines=[CreditRequest(by_kind["outcome"].pk)]
    )
    assert note.total == D("4.00")
    g.refresh_from_db()
    assert g.remaining == D("0.00")
    # Crediting the fee as well now gives the 300.00 back, and 200.00 more in money.
    note = credit_note_issue(
        invoice_id=invoice.pk, reason="y", lines=[CreditRequest(by_kind["platform_fee"].pk)]
    )
    assert note.total == D("200.00")
    g.refresh_from_db()
    assert g.remaining == D("300.00") == ledger_sum(g)


def test_an_accepted_dispute_on_an_invoice_paid_by_credits_gives_the_outcome_back():
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "100.00")
    signals = w.signals(4)
    closed(w)
    d = dispute_open(customer_id=w.customer.pk, signal_ids=[signals[0].pk], reason="dup")
    d = dispute_accept(dispute_id=d.pk, note="ok")
    note = d.credit_note
    # 4 -> 3 outcomes: outcome 10.00 credited, 10.00 of credits given back, 0.00 in money.
    assert sorted((line.invoice_line.kind, line.amount) for line in note.lines.all()) == [
        ("credits_applied", D("-10.00")),
        ("outcome", D("10.00")),
    ]
    assert note.total == D("0.00")
    g.refresh_from_db()
    assert g.remaining == D("70.00") == ledger_sum(g)
    assert d.outcomes.get().credited == D("0.00")


def test_an_accepted_dispute_on_an_invoice_partly_paid_by_credits_credits_money_first():
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "25.00")
    signals = w.signals(4)
    invoice, _ = closed(w)
    assert invoice.total == D("15.00")  # 40.00 - 25.00
    d = dispute_open(customer_id=w.customer.pk, signal_ids=[signals[0].pk], reason="dup")
    note = dispute_accept(dispute_id=d.pk, note="ok").credit_note
    # 30.00 still draws the 25.00 of credits: 10.00 credited in money, none given back.
    assert [(line.invoice_line.kind, line.amount) for line in note.lines.all()] == [
        ("outcome", D("10.00"))
    ]
    g.refresh_from_db()
    assert g.remaining == D("0.00")


def test_finance_gives_credits_back_from_the_invoice_page(client):
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "100.00")
    w.signals(4)
    invoice, by_kind = closed(w)
    client.force_login(staff("Finance"))
    url = reverse("admin:billing_invoice_credit", args=[invoice.pk])
    page = client.get(url).content.decode()
    assert "Prepaid credits to give back to the grant: at most 40.00 USD" in page
    token = re.search(r'name="token" value="([0-9a-f]+)"', page).group(1)
    data = {
        "token": token,
        "reason": "two were tests",
        f"line_{by_kind['outcome'].pk}": "20.00",
        f"line_{by_kind['credits_applied'].pk}": "20.00",
    }
    response = client.post(url, data, follow=True)
    assert "issued" in response.content.decode()
    g.refresh_from_db()
    assert g.remaining == D("80.00") == ledger_sum(g)
