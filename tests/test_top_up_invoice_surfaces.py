"""A top-up invoiced at once on every surface: the staff API (invoice_now), the admin's
grant form, the invoice admin and its printable page, the e-mailed PDF, the v1 and
Paid v2 invoice APIs (and Paid's own SDK), the CSV export, the accounting journal and
the webhook payload; no outcome statement; each role."""

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal as D

import httpx
import pytest
from paid import Paid

from billing.credit_grants import top_up_request
from billing.models import CreditGrant, CreditLedgerEntry, Invoice, InvoiceDelivery
from billing.services import invoice_void, period_close
from billing.statements import statement_token
from billing.tasks import deliver_invoice
from tests import factories as f
from tests.api_helpers import agent_key
from tests.billing_helpers import World
from tests.credit_helpers import START
from tests.journal_helpers import journal_csv
from tests.mail_helpers import pdf_text, smtp_server
from tests.receivables_helpers import staff
from webhooks.payloads import invoice_data

NOW = datetime(2026, 1, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def world(db):
    rate = f.TaxRateFactory(name="VAT 20%", percent=D("20"))
    return World(unit_price=D("10.00"), agreement_kwargs={"tax_rate": rate})


def top_up_invoice(world) -> Invoice:
    grant, _ = top_up_request(
        customer=world.customer,
        amount=D("1000.00"),
        purchase_price=D("950.00"),
        effective_at=START,
        invoice_now=True,
        at=NOW,
    )
    return grant.purchase_invoice


def grants_url(world) -> str:
    return f"/api/v1/customers/{world.customer.external_id}/credit-grants"


def post(client, world, body):
    return client.post(grants_url(world), json.dumps(body), content_type="application/json")


def stored() -> tuple[int, int, int]:
    return (CreditGrant.objects.count(), CreditLedgerEntry.objects.count(), Invoice.objects.count())


@pytest.mark.django_db
def test_finance_tops_up_through_the_api_and_the_invoice_is_issued_at_once(client, world):
    client.force_login(staff("Finance"))
    body = {"name": "Top-up", "amount": "1000.00", "top_up": True, "invoice_now": True}
    response = post(client, world, {**body, "purchase_price": "950.00", "reference": "po-7"})
    assert response.status_code == 201, response.content
    data = response.json()
    invoice = Invoice.objects.get(number=data["purchase_invoice_number"])
    assert data["source"] == "top_up_now" and data["remaining"] == "1000.00"
    # 950.00 + 20% = 1,140.00.
    assert (invoice.kind, invoice.total) == ("top_up", D("1140.00"))
    # Retried with its reference: the same grant, no second invoice.
    again = post(client, world, {**body, "purchase_price": "950.00", "reference": "po-7"})
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    assert Invoice.objects.count() == 1
    # The v1 invoice API shows it with no period.
    shown = client.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert (shown["kind"], shown["period_start"], shown["period_end"]) == ("top_up", None, None)
    assert [line["kind"] for line in shown["lines"]] == ["credit_purchase"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"invoice_now": True}, "invoice_now", "send top_up: true"),
        ({"top_up": True, "invoice_now": "yes please"}, "invoice_now", ""),
    ],
)
def test_bad_requests_name_the_field_and_store_nothing(client, world, body, field, text):
    client.force_login(staff("Finance"))
    before = stored()
    response = post(client, world, {"name": "Top-up", "amount": "10.00", **body})
    assert response.status_code == 400 and field in response.json(), response.content
    assert text in " ".join(response.json()[field])
    assert stored() == before


@pytest.mark.django_db
def test_a_customer_without_an_agreement_in_the_currency_is_refused_by_name(client, world):
    client.force_login(staff("Finance"))
    world.customer.currency = "EUR"
    world.customer.save()
    body = {"name": "Top-up", "amount": "10.00", "top_up": True, "invoice_now": True}
    response = post(client, world, body)
    assert response.status_code == 400
    assert "no agreement in EUR" in response.json()["invoice_now"][0]
    assert stored() == (0, 0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["Account managers", "Viewers"])
def test_other_roles_cannot_top_up(client, world, group):
    client.force_login(staff(group))
    body = {"name": "Top-up", "amount": "10.00", "top_up": True, "invoice_now": True}
    assert post(client, world, body).status_code == 403
    assert stored() == (0, 0, 0)


@pytest.mark.django_db
def test_finance_tops_up_in_the_admin_and_reads_the_invoice(client, world):
    client.force_login(staff("Finance"))
    form = {
        "customer": world.customer.pk,
        "name": "Q1 top-up",
        "kind": "paid",
        "source": "top_up_now",
        "unit": "money",
        "currency": "",
        "amount": "500.00",
        "purchase_price": "450.00",
        "effective_at_0": "2026-01-01",
        "effective_at_1": "00:00:00",
        "expires_at_0": "",
        "expires_at_1": "",
        "priority": "100",
        "note": "",
    }
    response = client.post("/admin/billing/creditgrant/add/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    grant = CreditGrant.objects.get()
    invoice = grant.purchase_invoice
    assert (invoice.kind, invoice.net, invoice.total) == ("top_up", D("450.00"), D("540.00"))
    listing = client.get("/admin/billing/invoice/").content.decode()
    assert "Credit top-up" in listing and invoice.number in listing
    page = client.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    assert "Customer outcome statement" not in page and "Printable invoice" in page
    printable = client.get(f"/admin/billing/invoice/{invoice.pk}/print/").content.decode()
    assert "Prepaid credits purchase" in printable and "Q1 top-up (500.00)" in printable
    assert "540.00" in printable


@pytest.mark.django_db
def test_the_admin_refuses_a_top_up_it_cannot_invoice_and_stores_nothing(client, world):
    client.force_login(staff("Finance"))
    other = f.CustomerFactory(currency="USD")
    form = {
        "customer": other.pk,
        "name": "Top-up",
        "kind": "paid",
        "source": "top_up_now",
        "unit": "money",
        "currency": "",
        "amount": "500.00",
        "effective_at_0": "2026-01-01",
        "effective_at_1": "00:00:00",
        "priority": "100",
    }
    response = client.post("/admin/billing/creditgrant/add/", form)
    assert response.status_code == 200
    assert "no agreement in USD" in response.content.decode()
    assert stored() == (0, 0, 0)


@pytest.mark.django_db
def test_the_top_up_invoice_has_no_outcome_statement(client, world):
    invoice = top_up_invoice(world)
    assert client.get(f"/statements/{statement_token(invoice.pk)}/").status_code == 404


@pytest.mark.django_db
def test_it_is_e_mailed_with_its_pdf(settings, world):
    invoice = top_up_invoice(world)
    delivery = InvoiceDelivery.objects.get(invoice=invoice, kind="invoice")
    with smtp_server(settings) as inbox:
        assert deliver_invoice(delivery.pk) == "sent"
    message = inbox.messages[0]
    assert invoice.number in message["Subject"] and "1,140.00 USD" in message["Subject"]
    [attachment] = list(message.iter_attachments())
    text = pdf_text(attachment.get_content())
    assert "Prepaid credits purchase" in text
    assert "Prepaid credits purchased: Top-up (1,000.00)" in text
    assert "Period" not in text


@pytest.mark.django_db
def test_exports_journal_and_webhook_payload(client, world):
    invoice = top_up_invoice(world)
    client.force_login(staff("Finance"))
    response = client.get("/api/v1/invoices", {"format": "csv"})
    assert response.status_code == 200
    [row] = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert (row["number"], row["kind"], row["period_start"], row["period_end"]) == (
        invoice.number,
        "top_up",
        "",
        "",
    )
    assert (row["net"], row["tax"], row["total"]) == ("950.00", "190.00", "1140.00")
    journal = journal_csv(date(2026, 1, 1), date(2026, 1, 31))
    assert "Prepaid credits purchase" in journal and invoice.number in journal
    data = invoice_data(invoice.pk)
    assert (data["kind"], data["period_start"], data["period_end"]) == ("top_up", None, None)
    assert data["total"] == "1140.00"


def test_paids_sdk_reads_the_top_up_invoice(live_server, transactional_db):
    rate = f.TaxRateFactory(name="VAT 20%", percent=D("20"))
    world = World(unit_price=D("10.00"), agreement_kwargs={"tax_rate": rate})
    invoice = top_up_invoice(world)
    with httpx.Client(timeout=30) as http:
        sdk = Paid(token=agent_key(), base_url=f"{live_server.url}/api/v2", httpx_client=http)
        read = sdk.invoices.get_invoice_by_id(str(invoice.pk))
        assert read.order_id is None and read.invoice_total == 1140.0
        assert read.start_date == read.end_date == NOW
        lines = sdk.invoices.get_invoice_lines(str(invoice.pk))
        [line] = lines.data
        assert line.order_id is None and line.total_price_before_tax == 950.0
        assert line.start_date == NOW


@pytest.mark.django_db
def test_the_invoice_list_finds_top_ups_by_issue_date_and_kind(client, world):
    invoice = top_up_invoice(world)
    world.signals(1)
    january = period_close(period_id=world.period(1).pk)
    client.force_login(staff("Viewers"))

    def numbers(**params):
        response = client.get("/api/v1/invoices", params)
        assert response.status_code == 200, response.content
        return sorted(row["number"] for row in response.json()["results"])

    # The period range selects period invoices; the issue range every invoice.
    assert numbers(period_from="2026-01-01T00:00:00Z") == [january.number]
    assert numbers(issued_from="2026-01-01T00:00:00Z", issued_to="2026-01-31T00:00:00Z") == [
        invoice.number
    ]
    assert numbers(kind="top_up") == [invoice.number]
    assert numbers(kind="period") == [january.number]


@pytest.mark.django_db
def test_a_voided_top_ups_credits_show_as_cancelled_in_the_admin(client, world):
    invoice = top_up_invoice(world)
    invoice_void(invoice_id=invoice.pk, reason="ordered twice")
    client.force_login(staff("Finance"))
    grant = CreditGrant.objects.get()
    cancelled = client.get("/admin/billing/creditgrant/", {"state": "cancelled"})
    assert cancelled.context["cl"].result_count == 1
    used = client.get("/admin/billing/creditgrant/", {"state": "used"})
    assert used.context["cl"].result_count == 0
    page = client.get(f"/admin/billing/creditgrant/customer/{world.customer.pk}/")
    assert [g.state for g in page.context["grants"]] == ["cancelled"]
    ledger = client.get(f"/admin/billing/creditgrant/{grant.pk}/change/").content.decode()
    assert "Cancellation (top-up credited or voided)" in ledger
