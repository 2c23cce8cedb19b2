"""Paid's Python SDK reads our invoices and their lines: the real SDK against a live
server. Amounts are exact numbers in the currency's major unit; void invoices say so."""

from decimal import Decimal as D

import httpx
import pytest
from paid import Paid
from paid.errors import NotFoundError

from billing.services import invoice_void, period_close
from tests.api_helpers import agent_key
from tests.billing_helpers import World


@pytest.fixture
def http(live_server, transactional_db):
    with httpx.Client(timeout=30) as client:
        yield client


def sdk_for(live_server, http, **key):
    return Paid(token=agent_key(**key), base_url=f"{live_server.url}/api/v2", httpx_client=http)


@pytest.fixture
def closed(http):
    # 3 outcomes at 12.345 (USD rounds each line half-up: 37.04) and a 99.99 platform fee.
    world = World(unit_price=D("12.345"), agreement_kwargs={"platform_fee": D("99.99")})
    world.signals(3)
    return world, period_close(period_id=world.period().pk)


def test_an_invoice_is_read_with_exact_amounts(live_server, http, closed):
    world, invoice = closed
    sdk = sdk_for(live_server, http)
    read = sdk.invoices.get_invoice_by_id(str(invoice.pk))
    assert read.display_number == str(invoice.number)
    assert read.customer_id == str(world.customer.pk) and read.order_id == str(world.agreement.pk)
    assert (read.status, read.payment_status, read.currency) == ("posted", "pending", "USD")
    assert read.invoice_total == 137.03 and read.amount_due == 137.03  # 37.04 + 99.99
    assert read.tax_amount == 0 and read.amount_paid == 0
    assert read.start_date.isoformat() == "2026-01-01T00:00:00+00:00"
    assert read.end_date.isoformat() == "2026-02-01T00:00:00+00:00"
    # The JSON itself carries the exact digits, no float noise.
    raw = http.get(
        f"{live_server.url}/api/v2/invoices/{invoice.pk}",
        headers={"Authorization": f"Bearer {agent_key()}"},
    )
    assert '"invoiceTotal":137.03' in raw.text


def test_an_invoices_lines_are_read_by_page(live_server, http, closed):
    world, invoice = closed
    sdk = sdk_for(live_server, http)
    lines = sdk.invoices.get_invoice_lines(str(invoice.pk))
    by_amount = {line.total_price_before_tax: line for line in lines.data}
    assert set(by_amount) == {37.04, 99.99} and lines.pagination.total == 2
    outcome = by_amount[37.04]
    assert outcome.quantity == 3 and outcome.order_line_id == str(world.price.pk)
    assert outcome.currency == "USD" and outcome.order_id == str(world.agreement.pk)
    first = sdk.invoices.get_invoice_lines(str(invoice.pk), limit=1, offset=1)
    assert len(first.data) == 1 and first.pagination.has_more is False


def test_invoices_are_listed_and_filtered(live_server, http, closed):
    world, invoice = closed
    other = World(unit_price=D("1"), currency="JPY")
    other.signals(2)
    yen = period_close(period_id=other.period().pk)
    invoice_void(invoice_id=yen.pk, reason="customer disputed")
    sdk = sdk_for(live_server, http)
    everything = sdk.invoices.list_invoices()
    assert [i.id for i in everything.data] == [str(invoice.pk), str(yen.pk)]
    voided = sdk.invoices.list_invoices(status="voided")
    assert [i.id for i in voided.data] == [str(yen.pk)]
    assert voided.data[0].amount_due == 0 and voided.data[0].invoice_total == 2
    assert [i.id for i in sdk.invoices.list_invoices(currency="jpy").data] == [str(yen.pk)]
    mine = sdk.invoices.list_invoices(external_customer_id=world.customer.external_id)
    assert [i.id for i in mine.data] == [str(invoice.pk)]
    assert [i.id for i in sdk.invoices.list_invoices(order_id=str(world.agreement.pk)).data] == [
        str(invoice.pk)
    ]
    assert sdk.invoices.list_invoices(payment_status="paid").data == []
    assert sdk.invoices.list_invoices(issue_date_to="2000-01-01").data == []


def test_an_agents_own_key_reads_invoices_too(live_server, http, closed):
    world, invoice = closed
    sdk = sdk_for(live_server, http, agent=world.agent)
    assert sdk.invoices.get_invoice_by_id(str(invoice.pk)).invoice_total == 137.03
    with pytest.raises(NotFoundError):
        sdk.invoices.get_invoice_by_id("999999")


def test_tax_and_payments_are_read_as_paid_names_them(live_server, http):
    from tests.factories import TaxRateFactory
    from tests.receivables_helpers import invoice_of

    vat = TaxRateFactory(name="VAT 20%", percent=D("20"))
    # net 100.05; VAT 20% = 20.01; total 120.06; paid 20.06: 100.00 left, 5 days late.
    late = invoice_of("100.05", days_overdue=5, paid="20.06", tax_rate=vat)
    partly = invoice_of("10", days_overdue=-3, paid="4")
    paid = invoice_of("7", paid="7")
    fresh = invoice_of("1000", "JPY", days_overdue=-1)
    void = invoice_of("3", days_overdue=9)
    invoice_void(invoice_id=void.pk, reason="duplicate")
    sdk = sdk_for(live_server, http)
    read = sdk.invoices.get_invoice_by_id(str(late.pk))
    assert (read.invoice_total_excluding_tax, read.tax_amount, read.invoice_total) == (
        100.05,
        20.01,
        120.06,
    )
    assert (read.amount_paid, read.amount_due, read.amount_remaining) == (20.06, 100, 100)
    assert (read.payment_status, read.tax_status, read.tax_rate) == ("overdue", "calculated", 20)
    line = sdk.invoices.get_invoice_lines(str(late.pk)).data[0]
    assert (line.total_price_before_tax, line.tax, line.tax_rate) == (100.05, 20.01, 20)
    assert line.total_price_after_tax == 120.06 and line.payment_status == "overdue"
    gone = sdk.invoices.get_invoice_by_id(str(void.pk))
    assert (gone.amount_due, gone.amount_remaining, gone.tax_status) == (0, 0, "voided")
    untaxed = sdk.invoices.get_invoice_by_id(str(fresh.pk))
    assert (untaxed.tax_amount, untaxed.tax_status, untaxed.amount_due) == (
        0,
        "not_applicable",
        1000,
    )

    def status(value):
        return {i.id for i in sdk.invoices.list_invoices(payment_status=value).data}

    assert status("overdue") == {str(late.pk)}
    assert status("partiallyPaid") == {str(partly.pk)}
    assert status("paid") == {str(paid.pk)}
    assert status("pending") == {str(fresh.pk), str(void.pk)}
    assert status("error") == set()
