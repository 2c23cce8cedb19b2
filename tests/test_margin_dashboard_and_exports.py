"""The margin dashboard, its filters and CSV; margins and invoices through the staff API."""

import csv
import io
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.services import period_close
from tests import factories as f
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db
URL = "/admin/billing/marginfigure/"


def closed_world(n=4, unit="2.00", cost="0.50", **kwargs):
    w = World(unit_price=D(unit), **kwargs)
    for s in w.signals(n):
        f.CostFactory(agent=w.agent, customer=w.customer, signal=s, amount=D(cost))
    period_close(period_id=w.period().pk)
    return w


def test_dashboard_shows_charts_tables_and_deals_below_target(admin_client):
    good = closed_world()
    bad = closed_world(unit="1.00", cost="0.90", agreement_kwargs={"margin_target": D(40)})
    response = admin_client.get(URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert content.count("<canvas") == 5 and "chart.umd.min.js" in content
    agents = {row["name"]: row for row in response.context["data"]["by_agent"]}
    assert agents[good.agent.name]["margin_percent"] == D("75.0")
    assert agents[bad.agent.name]["margin_percent"] == D("10.0")
    below = response.context["data"]["below_target"]
    assert [row["agreement"] for row in below] == [bad.agreement.pk]
    assert reverse("admin:billing_priceagreement_change", args=[bad.agreement.pk]) in content


def test_dashboard_filters(admin_client):
    a, b = closed_world(), closed_world()
    response = admin_client.get(URL, {"customer": a.customer.external_id})
    assert [r["name"] for r in response.context["data"]["by_customer"]] == [a.customer.name]
    response = admin_client.get(URL, {"agent": b.agent.external_id})
    assert [r["name"] for r in response.context["data"]["by_agent"]] == [b.agent.name]
    response = admin_client.get(URL, {"date_from": "2026-02-01"})
    assert response.context["data"]["by_period"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"customer": "nobody"}, "No customer has the external id"),
        ({"date_from": "2026-03-01", "date_to": "2026-01-01"}, "swap them"),
        ({"agent": "ghost"}, "Unknown agent"),
        ({"date_from": "yesterday"}, "Enter a valid date"),
    ],
)
def test_bad_filters_show_a_message_not_a_500(admin_client, params, message):
    closed_world()
    response = admin_client.get(URL, params)
    assert response.status_code == 200
    assert message in response.content.decode()


def test_dashboard_query_count_does_not_grow_with_signals(admin_client):
    closed_world(n=2)
    admin_client.get(URL)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(URL)
    closed_world(n=60)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(URL)
    assert len(many) == len(few)


def test_margins_csv_from_the_dashboard(admin_client):
    w = closed_world()
    response = admin_client.get(URL, {"export": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1 and rows[0]["customer_id"] == w.customer.external_id
    assert D(rows[0]["margin"]) == D("6.00")


def test_staff_api_margins_and_invoices_json_and_csv(admin_client):
    w = closed_world()
    closed_world()
    margins = admin_client.get("/api/v1/margins", {"customer": w.customer.external_id}).json()
    assert [m["margin"] for m in margins["results"]] == ["6.00000000"]
    below = admin_client.get("/api/v1/margins", {"below_target": "true"}).json()
    assert below["results"] == []
    invoices = admin_client.get("/api/v1/invoices", {"customer": w.customer.external_id}).json()
    assert invoices["results"][0]["total"] == "8.00000000"
    assert invoices["results"][0]["lines"][0]["kind"] == "outcome"
    as_csv = admin_client.get("/api/v1/invoices", {"format": "csv"})
    assert as_csv["Content-Type"].startswith("text/csv")
    assert as_csv.content.decode().splitlines()[0].startswith("number,customer_id")


def test_agent_keys_cannot_read_margins(client):
    from tests.api_helpers import agent_key

    key = agent_key(f.AgentFactory())
    assert client.get("/api/v1/margins", HTTP_AUTHORIZATION=f"Bearer {key}").status_code in (
        401,
        403,
    )


def test_invoice_csv_admin_action(admin_client):
    closed_world()
    from billing.models import Invoice

    response = admin_client.post(
        "/admin/billing/invoice/",
        {
            "action": "export_csv",
            "_selected_action": list(Invoice.objects.values_list("pk", flat=True)),
        },
    )
    number = Invoice.objects.get().number
    assert response.content.decode().splitlines()[1].startswith(f"{number},")


def test_deals_below_target_flagged_in_the_agreement_list_and_live_on_the_agreement(admin_client):
    bad = closed_world(unit="1.00", cost="0.90", agreement_kwargs={"margin_target": D(40)})
    closed_world()
    listing = admin_client.get("/admin/billing/priceagreement/").content.decode()
    assert listing.count("below target") == 1
    # February is open: its live margin shows on the agreement's page
    from datetime import UTC, datetime

    s = f.SignalFactory(
        agent=bad.agent,
        customer=bad.customer,
        event_name="done",
        occurred_at=datetime(2026, 2, 10, tzinfo=UTC),
        data={"status": "ok"},
    )
    f.CostFactory(agent=bad.agent, customer=bad.customer, signal=s, amount=D("0.95"))
    from billing.periods import periods_create

    periods_create(agreement=bad.agreement, until=datetime(2026, 2, 20, tzinfo=UTC))
    with __import__("unittest").mock.patch(
        "django.utils.timezone.now", return_value=datetime(2026, 2, 20, tzinfo=UTC)
    ):
        page = admin_client.get(
            reverse("admin:billing_priceagreement_change", args=[bad.agreement.pk])
        ).content.decode()
    assert "Live margin of this open period" in page and "5.0%" in page
    assert "below the margin target" in page


def test_dashboard_converts_every_amount_to_the_reporting_currency(admin_client):
    f.ExchangeRateFactory(
        base_currency="JPY",
        quote_currency="USD",
        rate=D("0.01"),
        effective_on=__import__("datetime").date(2025, 12, 1),
    )
    w = World(currency="JPY", unit_price=D(100))
    w.signals(2)
    for s in w.signals(1, status="broken"):
        f.CostFactory(agent=w.agent, customer=w.customer, signal=s, amount=D(5), currency="JPY")
    period_close(period_id=w.period().pk)
    row = admin_client.get(URL).context["data"]["by_agent"][0]
    # revenue 200 JPY = 2.00 USD; the failure's cost 5 JPY = 0.05 USD
    assert row["revenue"] == D("2.00") and row["cost_of_failures"] == D("0.05")
