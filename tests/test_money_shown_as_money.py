"""Amounts a person reads are shown as money: thousands separated, at the currency's minor
unit; quantities without trailing zeros; never a stored `10991.74000000`."""

from decimal import Decimal as D

import pytest
from django.urls import reverse

from billing.services import period_close
from billing.statements import statement_token
from tests import factories as f
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def usd_and_jpy():
    usd = World(unit_price=D("2747.935"))  # 4 x 2,747.935 = 10,991.74
    for s in usd.signals(4):
        f.CostFactory(agent=usd.agent, customer=usd.customer, signal=s, amount=D("0.0045"))
    jpy = World(currency="JPY", unit_price=D("9580.85"))  # 38,323.4 -> 38,323
    jpy.signals(4)
    f.ExchangeRateFactory(
        base_currency="JPY",
        quote_currency="USD",
        rate=D("0.0067"),
        effective_on=__import__("datetime").date(2025, 12, 1),
    )
    return (
        period_close(period_id=usd.period().pk),
        period_close(period_id=jpy.period().pk),
    )


def test_invoice_list_page_print_and_statement(admin_client, client, usd_and_jpy):
    usd, jpy = usd_and_jpy
    listing = admin_client.get("/admin/billing/invoice/").content.decode()
    assert "10,991.74" in listing and "38,323" in listing
    page = admin_client.get(reverse("admin:billing_invoice_change", args=[usd.pk]))
    content = page.content.decode()
    assert "10,991.74" in content and "2,747.935" in content
    printable = admin_client.get(reverse("admin:billing_invoice_print", args=[jpy.pk]))
    assert 'id="invoice-total">38,323 JPY' in printable.content.decode()
    assert '<td class="num">4</td>' in printable.content.decode()  # the quantity
    statement = client.get(f"/statements/{statement_token(usd.pk)}/").content.decode()
    assert 'id="statement-total">10,991.74 USD' in statement
    for text in (listing, content, printable.content.decode(), statement):
        assert "00000000" not in text
    # (the change page also names each line by InvoiceLine.__str__, which is the model's)
    for text in (listing, printable.content.decode(), statement):
        assert "10991.74" not in text


def test_dashboard_costs_agreements_and_figures(admin_client, usd_and_jpy):
    dashboard = admin_client.get("/admin/billing/marginfigure/").content.decode()
    # reporting currency USD: 10,991.74 + 38,323 x 0.0067 = 10,991.74 + 256.7641
    assert "11,248.50" in dashboard and "00000000" not in dashboard
    assert '"revenue": ["11248.50"]' in dashboard  # the charts' data, at the minor unit
    costs = admin_client.get("/admin/agents/cost/").content.decode()
    assert "0.0045" in costs and "0.00450000" not in costs
    agreements = admin_client.get("/admin/billing/priceagreement/").content.decode()
    assert "00000000" not in agreements
    from billing.models import MarginFigure

    figure = MarginFigure.objects.filter(currency="USD").get()
    page = admin_client.get(reverse("admin:billing_marginfigure_change", args=[figure.pk]))
    assert "10,991.74" in page.content.decode() and "00000000" not in page.content.decode()
