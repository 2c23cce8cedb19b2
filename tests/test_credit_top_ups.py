"""Top-ups (billing.credit_grants.top_up_request): credits usable at once, billed on the
customer's next invoice as a `credit_purchase` line with the agreement's tax; a void
puts the top-up back to pending and the reissue bills it again; billed once."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from billing.credit_grants import top_up_request
from billing.credits import top_ups_pending
from billing.errors import GrantError
from billing.models import CreditGrant
from billing.services import invoice_preview, invoice_void, period_close, period_reissue
from tests import factories as f
from tests.billing_helpers import World
from tests.credit_helpers import START, ledger_sum

pytestmark = pytest.mark.django_db


def lines(invoice):
    return [
        (line.kind, line.amount, line.tax_rate.name if line.tax_rate else None)
        for line in invoice.lines.order_by("position")
    ]


@pytest.fixture
def world():
    rate = f.TaxRateFactory(name="VAT 20%", percent=D("20"))
    return World(unit_price=D("10.00"), agreement_kwargs={"tax_rate": rate})


def test_the_next_close_bills_the_top_up_with_the_agreements_tax(world):
    top_up, created = top_up_request(
        customer=world.customer,
        amount=D("200.00"),
        purchase_price=D("180.00"),
        effective_at=START,
        reference="po-1",
    )
    assert created and top_up.source == "top_up" and top_up.name == "Top-up"
    assert top_ups_pending(customer_id=world.customer.pk) == [top_up]
    world.signals(3)
    invoice = period_close(period_id=world.period(1).pk)
    # Outcomes 3 x 10.00 = 30.00, paid from the top-up; the top-up itself 180.00. All at
    # 20%: net 30.00 + 180.00 - 30.00 = 180.00, tax 36.00, total 216.00.
    assert lines(invoice) == [
        ("outcome", D("30.00"), "VAT 20%"),
        ("credit_purchase", D("180.00"), "VAT 20%"),
        ("credits_applied", D("-30.00"), "VAT 20%"),
    ]
    assert (invoice.net, invoice.tax, invoice.total) == (D("180.00"), D("36.00"), D("216.00"))
    purchase = invoice.lines.get(kind="credit_purchase")
    assert purchase.description == "Prepaid credits purchased: Top-up (200.00)"
    top_up.refresh_from_db()
    assert top_up.purchase_invoice == invoice and top_up.remaining == D("170.00")
    assert top_ups_pending(customer_id=world.customer.pk) == []
    # Billed once: February's invoice does not bill it again.
    february = invoice_preview(period=world.period(2))
    assert all(line.kind != "credit_purchase" for line in february.lines)


def test_without_a_purchase_price_the_top_up_is_billed_at_its_amount(world):
    top_up_request(customer=world.customer, amount=D("75.00"), effective_at=START)
    invoice = period_close(period_id=world.period(1).pk)
    # No outcomes: 75.00 purchased, 15.00 tax.
    assert lines(invoice) == [
        ("outcome", D("0"), "VAT 20%"),
        ("credit_purchase", D("75.00"), "VAT 20%"),
    ]
    assert invoice.total == D("90.00")


def test_a_void_puts_the_top_up_back_to_pending_and_the_reissue_bills_it_again(world):
    top_up, _ = top_up_request(
        customer=world.customer, amount=D("200.00"), purchase_price=D("180.00"), effective_at=START
    )
    world.signals(3)
    first = period_close(period_id=world.period(1).pk)
    invoice_void(invoice_id=first.pk, reason="wrong PO number")
    top_up.refresh_from_db()
    assert top_up.purchase_invoice is None and top_up.remaining == D("200.00")
    assert top_ups_pending(customer_id=world.customer.pk) == [top_up]
    world.signals(1)  # a late signal the reissue bills: 4 x 10.00 = 40.00
    second = period_reissue(period_id=world.period(1).pk)
    assert lines(second) == [
        ("outcome", D("40.00"), "VAT 20%"),
        ("credit_purchase", D("180.00"), "VAT 20%"),
        ("credits_applied", D("-40.00"), "VAT 20%"),
    ]
    assert (second.net, second.tax, second.total) == (D("180.00"), D("36.00"), D("216.00"))
    top_up.refresh_from_db()
    assert top_up.purchase_invoice == second
    # 200.00 - 30.00 + 30.00 - 40.00 = 160.00.
    assert top_up.remaining == D("160.00") == ledger_sum(top_up)


def test_an_outcome_top_up_is_billed_at_its_purchase_price(world):
    top_up, _ = top_up_request(
        customer=world.customer,
        amount=D("100"),
        purchase_price=D("850.00"),
        unit="outcomes",
        outcome_definition=world.outcome,
        effective_at=START,
    )
    world.signals(4)
    invoice = period_close(period_id=world.period(1).pk)
    assert lines(invoice) == [
        ("outcome", D("40.00"), "VAT 20%"),
        ("credit_purchase", D("850.00"), "VAT 20%"),
        ("credits_applied", D("-40.00"), "VAT 20%"),
    ]
    top_up.refresh_from_db()
    assert top_up.remaining == D("96")


def test_a_top_up_request_sent_twice_is_one_top_up(world):
    first, created = top_up_request(customer=world.customer, amount=D("50.00"), reference="r")
    again, created_again = top_up_request(customer=world.customer, amount=D("50.00"), reference="r")
    assert (created, created_again, again) == (True, False, first)
    with pytest.raises(GrantError) as refused:
        top_up_request(customer=world.customer, amount=D("60.00"), reference="r")
    assert refused.value.conflict and "amount differ" in refused.value.problems["reference"]
    assert CreditGrant.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"amount": D("-5")}, "amount", "positive"),
        ({"amount": D("5"), "purchase_price": D("1.001")}, "purchase_price", "minor unit"),
        (
            {"amount": D("5"), "unit": "outcomes", "outcome_definition": "OUTCOME"},
            "purchase_price",
            "needs",
        ),
        ({"amount": D("5"), "currency": "EUR"}, "currency", "invoiced in USD"),
    ],
)
def test_bad_top_ups_are_refused_and_store_nothing(world, kwargs, field, text):
    if kwargs.get("outcome_definition") == "OUTCOME":
        kwargs = {**kwargs, "outcome_definition": world.outcome}
    with pytest.raises(GrantError) as refused:
        top_up_request(customer=world.customer, **kwargs)
    assert text in refused.value.problems[field]
    assert not CreditGrant.objects.exists()


def test_a_customer_whose_agreement_ended_cannot_top_up_after_its_last_invoice():
    w = World(agreement_kwargs={"ends_on": date(2026, 1, 31)})
    # Its last period (January) is open: the top-up would be billed by it.
    assert top_up_request(customer=w.customer, amount=D("10.00"))[1]
    period_close(period_id=w.period(1).pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    with pytest.raises(GrantError) as refused:
        top_up_request(customer=w.customer, amount=D("10.00"))
    assert "no agreement" in refused.value.problems["top_up"]
