"""The admin's CSV exports and the staff API's CSV give the same rows for the same invoice
or margin figure; amounts at the minor unit without separators, ISO dates and datetimes."""

import csv
import io
from decimal import Decimal as D

import pytest

from billing.models import Invoice, MarginFigure
from billing.services import period_close
from tests import factories as f
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


def rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def closed(currency, unit, n=4, cost=None):
    w = World(currency=currency, unit_price=D(unit))
    for s in w.signals(n):
        if cost:
            f.CostFactory(
                agent=w.agent, customer=w.customer, signal=s, amount=D(cost), currency=currency
            )
    return w, period_close(period_id=w.period().pk)


def test_invoice_rows_are_identical_from_the_admin_and_the_api(admin_client):
    closed("USD", "2747.935")  # 4 x 2,747.935 = 10,991.74
    closed("JPY", "9580.85")  # 4 x 9,580.85 = 38,323.4 -> 38,323
    admin = rows(
        admin_client.post(
            "/admin/billing/invoice/",
            {
                "action": "export_csv",
                "_selected_action": list(Invoice.objects.values_list("pk", flat=True)),
            },
        )
    )
    api = rows(admin_client.get("/api/v1/invoices", {"format": "csv"}))
    assert list(admin[0]) == list(api[0])  # the same columns, in the same order
    assert sorted(admin, key=lambda r: r["number"]) == sorted(api, key=lambda r: r["number"])
    usd, jpy = sorted(admin, key=lambda r: r["number"])
    assert (usd["total"], usd["currency"]) == ("10991.74", "USD")
    assert (jpy["total"], jpy["currency"]) == ("38323", "JPY")
    assert (usd["period_start"], usd["period_end"]) == ("2026-01-01", "2026-02-01")
    assert usd["issued_at"].endswith("Z") and "T" in usd["issued_at"]
    assert usd["status"] == Invoice.Status.ISSUED


def test_margin_rows_are_identical_from_the_dashboard_and_the_api(admin_client):
    closed("USD", "2747.935", cost="0.125")  # cost 4 x 0.125 = 0.50
    dashboard = rows(admin_client.get("/admin/billing/marginfigure/", {"export": "csv"}))
    api = rows(admin_client.get("/api/v1/margins", {"format": "csv"}))
    assert len(dashboard) == 1 and dashboard == api
    row = dashboard[0]
    assert (row["revenue"], row["cost"], row["margin"]) == ("10991.74", "0.50", "10991.24")
    figure = MarginFigure.objects.get()
    assert row["margin_percent"] == f"{figure.margin_percent:.2f}"
    assert (row["period_start"], row["below_target"]) == ("2026-01-01", "false")


def test_invoice_lines_csv_has_plain_quantities_and_amounts(admin_client):
    _, invoice = closed("USD", "2747.935")
    lines = rows(admin_client.get(f"/admin/billing/invoice/{invoice.pk}/csv/"))
    outcome, total = lines[0], lines[-1]
    assert (outcome["quantity"], outcome["unit_price"], outcome["amount"]) == (
        "4",
        "2747.935",
        "10991.74",
    )
    assert (total["kind"], total["amount"]) == ("total", "10991.74")


def test_empty_api_csv_still_has_its_header(admin_client):
    response = admin_client.get("/api/v1/invoices", {"format": "csv"})
    assert response.content.decode().splitlines() == [
        "number,customer_id,period_start,period_end,status,currency,net,tax,total,amount_paid,amount_credited,"
        "amount_due,issued_at,due_at,void_reason,kind"
    ]
