"""Top-ups invoiced at once (billing/top_up_invoices.py): the credits are usable at once
and their own invoice (kind `top_up`, no period) is issued in the same transaction,
numbered in the invoice series, with the agreement's tax and the customer's payment
terms; the next close does not bill them again; a void cancels the credits (refused once
some were used); a credit note cancels what it credits; a payment settles it; refusals
leave nothing behind."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from billing.balances import balance_compute
from billing.credit_grants import top_up_request
from billing.credit_notes import CreditRequest, credit_note_issue
from billing.credits import grants_expire, top_ups_pending
from billing.errors import ClosingError, CreditNoteError, GrantError, StateError
from billing.models import (
    CreditGrant,
    CreditLedgerEntry,
    Invoice,
    InvoiceCounter,
    InvoiceDelivery,
    SellerProfile,
)
from billing.receivables import payment_record
from billing.services import invoice_void, invoice_void_and_reissue, period_close
from tests import factories as f
from tests.billing_helpers import World
from tests.credit_helpers import START, grant, ledger_sum

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 1, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def world():
    rate = f.TaxRateFactory(name="VAT 20%", percent=D("20"))
    return World(
        unit_price=D("10.00"), agreement_kwargs={"tax_rate": rate, "payment_terms_days": 14}
    )


def top_up_now(world, amount="200.00", price="180.00", **fields):
    grant, created = top_up_request(
        customer=world.customer,
        amount=D(amount),
        purchase_price=None if price is None else D(price),
        effective_at=START,
        invoice_now=True,
        at=NOW,
        **fields,
    )
    assert created
    return grant


def lines(invoice):
    return [
        (line.kind, line.description, line.amount, line.tax_percent)
        for line in invoice.lines.order_by("position")
    ]


def test_the_top_up_is_invoiced_at_once_with_the_agreements_tax(world):
    grant = top_up_now(world)
    invoice = grant.purchase_invoice
    invoice.refresh_from_db()
    assert invoice.kind == "top_up" and invoice.period is None
    assert invoice.status == "issued" and invoice.number
    assert (invoice.issued_at, invoice.due_at) == (NOW, NOW + timedelta(days=14))
    # One line: the purchase price 180.00 at 20%: tax 36.00, total 216.00.
    assert lines(invoice) == [
        ("credit_purchase", "Prepaid credits purchased: Top-up (200.00)", D("180.00"), D("20")),
    ]
    assert (invoice.net, invoice.tax, invoice.total) == (D("180.00"), D("36.00"), D("216.00"))
    assert invoice.buyer["external_id"] == world.customer.external_id
    assert invoice.seller["legal_name"]
    # Queued for e-mail like any invoice.
    assert InvoiceDelivery.objects.filter(invoice=invoice, kind="invoice").count() == 1
    # Usable at once, and never pending for the next invoice.
    grant.refresh_from_db()
    assert grant.source == "top_up_now" and grant.remaining == D("200.00")
    assert top_ups_pending(customer_id=world.customer.pk) == []


def test_the_next_close_draws_the_credits_and_does_not_bill_the_purchase_again(world):
    grant = top_up_now(world)
    world.signals(3)
    january = period_close(period_id=world.period(1).pk)
    kinds = [line.kind for line in january.lines.order_by("position")]
    assert kinds == ["outcome", "credits_applied"]
    # 3 x 10.00 = 30.00 drawn from the top-up: nothing due.
    assert (january.net, january.total) == (D("0.00"), D("0.00"))
    grant.refresh_from_db()
    assert grant.remaining == D("170.00") == ledger_sum(grant)


def test_the_top_up_invoice_takes_the_next_number_between_period_invoices(world):
    world.signals(1)
    january = period_close(period_id=world.period(1).pk)
    invoice = top_up_now(world).purchase_invoice
    february = period_close(period_id=world.period(2).pk)
    assert invoice.sequence == january.sequence + 1
    assert february.sequence == invoice.sequence + 1


def test_the_customers_own_payment_terms_win(world):
    world.customer.payment_terms_days = 3
    world.customer.save()
    invoice = top_up_now(world).purchase_invoice
    assert invoice.due_at == NOW + timedelta(days=3)


def test_an_outcome_top_up_is_invoiced_at_its_purchase_price(world):
    grant = top_up_now(
        world, amount="100", price="850.00", unit="outcomes", outcome_definition=world.outcome
    )
    invoice = grant.purchase_invoice
    assert lines(invoice) == [
        (
            "credit_purchase",
            "Prepaid credits purchased: Top-up (100 outcomes)",
            D("850.00"),
            D("20"),
        ),
    ]
    assert invoice.total == D("1020.00")


def test_a_payment_settles_it(world):
    invoice = top_up_now(world).purchase_invoice
    payment_record(
        invoice_id=invoice.pk,
        amount=D("216.00"),
        currency="USD",
        received_on=date(2026, 1, 21),
        now=datetime(2026, 1, 22, tzinfo=UTC),
    )
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_due == 0


def test_a_void_cancels_the_unused_credits_once(world):
    grant = top_up_now(world)
    invoice_void(invoice_id=grant.purchase_invoice_id, reason="ordered twice")
    grant.refresh_from_db()
    assert grant.remaining == 0 == ledger_sum(grant)
    entry = grant.entries.get(kind="cancellation")
    assert (entry.amount, entry.value, entry.invoice_id) == (
        D("-200.00"),
        D("-200.00"),
        grant.purchase_invoice_id,
    )
    # It stays billed by its void invoice: no later invoice bills or draws it.
    assert top_ups_pending(customer_id=world.customer.pk) == []
    world.signals(2)
    january = period_close(period_id=world.period(1).pk)
    assert [line.kind for line in january.lines.all()] == ["outcome"]
    assert january.total == D("24.00")


def test_a_void_is_refused_once_credits_were_used_and_changes_nothing(world):
    grant = top_up_now(world)
    world.signals(3)
    period_close(period_id=world.period(1).pk)
    with pytest.raises(StateError, match=r"30\.00 of the credits it sold were used"):
        invoice_void(invoice_id=grant.purchase_invoice_id, reason="ordered twice")
    invoice = Invoice.objects.get(pk=grant.purchase_invoice_id)
    grant.refresh_from_db()
    assert invoice.status == "issued" and grant.remaining == D("170.00")
    assert not grant.entries.filter(kind="cancellation").exists()


def test_void_and_reissue_is_refused_and_changes_nothing(world):
    grant = top_up_now(world)
    with pytest.raises(ClosingError, match="has no reissue"):
        invoice_void_and_reissue(invoice_id=grant.purchase_invoice_id, reason="typo")
    assert Invoice.objects.get(pk=grant.purchase_invoice_id).status == "issued"
    grant.refresh_from_db()
    assert grant.remaining == D("200.00")


def test_a_credit_note_cancels_the_credits_it_credits(world):
    grant = top_up_now(world)
    invoice = grant.purchase_invoice
    line = invoice.lines.get()
    # Half the price credited: half the credits (100.00 of 200.00) cancelled.
    note = credit_note_issue(
        invoice_id=invoice.pk,
        reason="discount agreed",
        lines=[CreditRequest(invoice_line_id=line.pk, amount=D("90.00"))],
    )
    assert note.total == D("108.00")
    grant.refresh_from_db()
    assert grant.remaining == D("100.00") == ledger_sum(grant)
    # The rest cannot be credited once the credits left are drawn.
    world.signals(10)  # 100.00 drawn at January's close
    period_close(period_id=world.period(1).pk)
    with pytest.raises(CreditNoteError, match="were used"):
        credit_note_issue(invoice_id=invoice.pk, reason="the rest")


@pytest.mark.parametrize(
    ("setup", "text"),
    [
        ("no_agreement", "no agreement in USD"),
        ("other_currency", "no agreement in EUR"),
        ("seller_incomplete", "seller profile is incomplete"),
    ],
)
def test_refusals_name_what_to_fix_and_leave_nothing(world, setup, text):
    customer = world.customer
    kwargs = {}
    if setup == "no_agreement":
        customer = f.CustomerFactory(currency="USD")
    elif setup == "other_currency":
        customer.currency = "EUR"  # the grant defaults to it; the agreement is in USD
        customer.save()
    else:
        SellerProfile.objects.update(legal_name="")
    counters = list(InvoiceCounter.objects.values_list("series", "year", "last_number"))
    with pytest.raises(GrantError) as refused:
        top_up_request(customer=customer, amount=D("50.00"), invoice_now=True, **kwargs)
    assert text in refused.value.problems["invoice_now"]
    assert not CreditGrant.objects.exists() and not Invoice.objects.exists()
    assert not CreditLedgerEntry.objects.exists()
    assert list(InvoiceCounter.objects.values_list("series", "year", "last_number")) == counters


def test_a_void_after_the_credits_expired_unused_is_allowed(world):
    grant = top_up_now(world, expires_at=datetime(2027, 1, 1, tzinfo=UTC))
    for month in (1, 2):  # the expiry waits for the periods that could still draw it
        period_close(period_id=world.period(month).pk)
    assert grants_expire(now=datetime(2027, 1, 2, tzinfo=UTC)) == 1
    invoice_void(invoice_id=grant.purchase_invoice_id, reason="never used, not paid")
    grant.refresh_from_db()
    assert Invoice.objects.get(pk=grant.purchase_invoice_id).status == "void"
    # Written off by the expiry; nothing left for the void to cancel.
    assert list(grant.entries.order_by("pk").values_list("kind", "amount")) == [
        ("grant", D("200.00")),
        ("expiry", D("-200.00")),
    ]
    assert grant.remaining == 0 == ledger_sum(grant)


def test_cancelled_credits_are_neither_granted_nor_used_in_the_balance(world):
    grant(world.customer, "1000.00", name="Commitment")
    mistaken = top_up_now(world, amount="5000.00", price="5000.00")
    invoice_void(invoice_id=mistaken.purchase_invoice_id, reason="typed one zero too many")
    balance = balance_compute(world.customer, now=datetime.now(UTC))
    assert (balance.granted, balance.used_closed, balance.remaining) == (
        D("1000.00"),
        D("0"),
        D("1000.00"),
    )
    assert [row["name"] for row in balance.grants] == ["Commitment"]


def test_half_credited_top_up_counts_what_it_still_grants(world):
    bought = top_up_now(world)
    line = bought.purchase_invoice.lines.get()
    credit_note_issue(
        invoice_id=bought.purchase_invoice_id,
        reason="discount agreed",
        lines=[CreditRequest(invoice_line_id=line.pk, amount=D("90.00"))],
    )
    balance = balance_compute(world.customer, now=datetime.now(UTC))
    assert (balance.granted, balance.used_closed) == (D("100.00"), D("0.00"))
    assert balance.grants[0]["amount"] == "100.00"


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"purchase_price": D("0")}, "purchase_price", "sold above zero"),
        ({"kind": "promotional"}, "kind", "its kind is paid"),
        ({"expires_at": datetime(2026, 2, 1, tzinfo=UTC)}, "expires_at", "in the future"),
        # 900,000,000,000 + 20% tax would not fit the invoice's amounts.
        ({"purchase_price": D("900000000000")}, "purchase_price", "With its tax"),
    ],
)
def test_a_top_up_it_could_not_sell_is_refused_by_field(world, fields, text, field):
    values = {"purchase_price": D("10.00"), **fields}
    with pytest.raises(GrantError) as refused:
        top_up_request(
            customer=world.customer,
            amount=D("50.00"),
            invoice_now=True,
            effective_at=START,
            **values,
        )
    assert text in refused.value.problems[field]
    assert not CreditGrant.objects.exists() and not Invoice.objects.exists()


def test_a_customer_whose_agreements_ended_cannot_top_up(world):
    world.agreement.ends_on = date(2026, 2, 28)
    world.agreement.save()
    for month in (1, 2):  # settled: no invoice ahead would draw the credits
        period_close(period_id=world.period(month).pk)
    with pytest.raises(GrantError) as refused:
        top_up_request(customer=world.customer, amount=D("50.00"), invoice_now=True)
    assert "no agreement whose next invoice would bill" in refused.value.problems["top_up"]
    assert not Invoice.objects.filter(kind="top_up").exists()
    assert not CreditGrant.objects.exists()
