"""The invoice list shows what is paid, partly paid, overdue; Finance records payments on
the invoice page (refusals shown on the field to fix); the receivables page ages what is
open per currency and adds up. Every role on every surface."""

import re
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import Payment
from billing.services import invoice_void
from tests import factories as f
from tests.receivables_helpers import invoice_of, staff

pytestmark = pytest.mark.django_db

LIST = "/admin/billing/invoice/"
RECEIVABLES = "/admin/billing/invoice/receivables/"


def login(client, role):
    user = staff(role)
    if user:
        client.force_login(user)
    return user


def pay_url(invoice):
    return reverse("admin:billing_invoice_pay", args=[invoice.pk])


def row_of(html: str, number: str) -> str:
    """The invoice list's row of invoice `number`."""
    match = re.search(
        rf"<tr>(?:(?!</tr>).)*>{re.escape(number)}</span></a>(?:(?!</tr>).)*</tr>", html, re.S
    )
    assert match, f"no row for {number}"
    return match.group()


def test_the_list_shows_status_total_and_amount_due_of_each_invoice(client):
    login(client, "Viewers")
    fresh = invoice_of("100", days_overdue=-5)
    partly = invoice_of("250", days_overdue=-1, paid="50")
    late = invoice_of("80", days_overdue=45, paid="30")
    paid = invoice_of("60", paid="60")
    void = invoice_of("1000", "JPY", days_overdue=3)
    invoice_void(invoice_id=void.pk, reason="wrong customer")
    html = client.get(LIST).content.decode()
    assert "Issued" in row_of(html, fresh.number) and "100.00 USD" in row_of(html, fresh.number)
    assert "Partly paid" in row_of(html, partly.number)
    assert "200.00 USD" in row_of(html, partly.number)  # due: 250 - 50
    assert "Overdue 45 days (partly paid)" in row_of(html, late.number)
    assert "50.00 USD" in row_of(html, late.number)
    assert "Paid" in row_of(html, paid.number) and "0.00 USD" in row_of(html, paid.number)
    assert "Void" in row_of(html, void.number) and "1,000 JPY" in row_of(html, void.number)

    def numbers(query):
        page = client.get(LIST + query).content.decode()
        return {n for n in (fresh, partly, late, paid, void) if f">{n.number}</span></a>" in page}

    assert numbers("?payment=issued") == {fresh}
    assert numbers("?payment=partly_paid") == {partly}
    assert numbers("?payment=overdue") == {late}
    assert numbers("?payment=paid") == {paid}
    assert numbers("?payment=void") == {void}
    assert numbers("?payment=open") == {fresh, partly, late}
    assert numbers("?currency=JPY") == {void}
    assert numbers("?aging=31–60") == {late}


def test_the_list_makes_no_query_per_row(client):
    login(client, "Viewers")
    invoice_of("10", paid="5")
    with CaptureQueriesContext(connection) as one:
        assert client.get(LIST).status_code == 200
    invoice_of("20", days_overdue=10)
    invoice_of("30", "JPY")
    with CaptureQueriesContext(connection) as three:
        assert client.get(LIST).status_code == 200
    assert len(three) == len(one)


def test_the_invoice_page_shows_net_tax_per_rate_total_paid_due_and_payments(client):
    login(client, "Viewers")
    vat = f.TaxRateFactory(name="VAT 20%", percent=D("20"))
    invoice = invoice_of("1234.56", days_overdue=12, paid="481.47", tax_rate=vat)
    # net 1,234.56; VAT 20% = 246.912 -> 246.91; total 1,481.47; paid 481.47; due 1,000.00
    assert (invoice.net, invoice.tax, invoice.total) == (D("1234.56"), D("246.91"), D("1481.47"))
    html = client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    for shown in ("1,234.56 USD", "246.91 USD", "1,481.47 USD", "481.47 USD"):
        assert shown in html
    assert "1,000.00 USD, 12 days overdue" in html
    assert "VAT 20%" in html and "Tax per rate" in html
    assert f"pay-{invoice.pk}" in html  # the payment's reference, in the payments list
    assert 'id="record-payment"' not in html  # Viewers record nothing


def test_finance_records_a_payment_and_the_invoice_becomes_paid(client):
    user = login(client, "Finance")
    invoice = invoice_of("99.99", days_overdue=3)
    page = client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    assert f'href="{pay_url(invoice)}" id="record-payment"' in page
    form = client.get(pay_url(invoice))
    assert form.status_code == 200 and not Payment.objects.exists()  # a GET writes nothing
    assert 'value="USD"' in form.content.decode()  # the currency preset to the invoice's
    today = timezone.now().date().isoformat()
    data = {"amount": "40.00", "currency": "USD", "received_on": today, "reference": "BANK-1"}
    response = client.post(pay_url(invoice), data, follow=True)
    assert "Payment of 40.00 USD recorded." in response.content.decode()
    assert "59.99 USD, 3 days overdue" in response.content.decode()
    data.update(amount="59.99", reference="BANK-2")
    response = client.post(pay_url(invoice), data, follow=True)
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_paid == D("99.99")
    assert Payment.objects.filter(recorded_by=user).count() == 2
    assert 'id="record-payment"' not in response.content.decode()  # nothing left to pay
    listed = client.get(LIST).content.decode()
    assert "Paid" in row_of(listed, invoice.number)


def test_the_same_reference_and_amount_again_records_nothing_twice(client):
    login(client, "Finance")
    invoice = invoice_of("100")
    data = {
        "amount": "10",
        "currency": "USD",
        "received_on": timezone.now().date(),
        "reference": "R1",
    }
    client.post(pay_url(invoice), data)
    response = client.post(pay_url(invoice), data, follow=True)
    assert "was recorded already" in response.content.decode()
    assert Payment.objects.count() == 1


BAD = [
    ({"amount": "100.01"}, "amount", "more than the 99.00 USD due"),
    ({"currency": "EUR"}, "currency", "is in USD, the payment in EUR"),
    ({"currency": "XYZ"}, "currency", "is not an ISO 4217 currency code"),
    ({"amount": "-5"}, "amount", "give a positive amount"),
    ({"amount": "0"}, "amount", "give a positive amount"),
    ({"amount": "1e999"}, "amount", "no more than 20 digits"),
    ({"amount": "NaN"}, "amount", "Enter a number"),
    ({"amount": "1.001"}, "amount", "2 decimal places at most"),
    ({"received_on": "tomorrow"}, "received_on", "future"),
    ({"received_on": "99999-01-01"}, "received_on", "Enter a valid date"),
    ({"reference": "A\x00B"}, "reference", "Null characters are not allowed"),
    ({"reference": "TAKEN", "amount": "2"}, "reference", "“TAKEN” of 1.00 USD is already"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD, ids=[b[2] for b in BAD])
def test_a_refused_payment_says_what_to_fix_on_its_field(client, change, field, message):
    login(client, "Finance")
    invoice = invoice_of("100")
    today = timezone.now().date()
    client.post(
        pay_url(invoice),
        {"amount": "1", "currency": "USD", "received_on": today, "reference": "TAKEN"},
    )
    data = {"amount": "5", "currency": "USD", "received_on": today, "reference": "R2", **change}
    if data["received_on"] == "tomorrow":
        data["received_on"] = today + timedelta(days=2)
    response = client.post(pay_url(invoice), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert message in " ".join(errors[field]), errors
    invoice.refresh_from_db()
    assert invoice.amount_paid == D("1") and Payment.objects.count() == 1


def test_a_void_invoice_takes_no_payment(client):
    login(client, "Finance")
    invoice = invoice_of("100")
    invoice_void(invoice_id=invoice.pk, reason="duplicate")
    response = client.post(
        pay_url(invoice),
        {"amount": "5", "currency": "USD", "received_on": timezone.now().date()},
    )
    assert "is void" in " ".join(response.context["form"].errors["amount"])
    assert not Payment.objects.exists()


@pytest.mark.parametrize("role", ["Viewers", "Account managers"])
def test_viewers_and_account_managers_cannot_record_payments(client, role):
    login(client, role)
    invoice = invoice_of("100")
    page = client.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert page.status_code == 200 and 'id="record-payment"' not in page.content.decode()
    assert client.get(pay_url(invoice)).status_code == 403
    today = timezone.now().date()
    data = {"amount": "5", "currency": "USD", "received_on": today}
    assert client.post(pay_url(invoice), data).status_code == 403
    assert not Payment.objects.exists()


def test_anonymous_is_sent_to_log_in(client):
    invoice = invoice_of("100")
    for url in (pay_url(invoice), RECEIVABLES):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_unknown_invoice_is_404(client):
    login(client, "Finance")
    assert client.get("/admin/billing/invoice/999999/pay/").status_code == 404


# --- Receivables ------------------------------------------------------------------------
def cell(html: str, currency: str, bucket: str) -> str:
    row = re.search(rf'<tr data-currency="{currency}">.*?</tr>', html, re.S).group()
    td = re.search(rf'<td[^>]*data-bucket="{re.escape(bucket)}">(.*?)</td>', row, re.S).group(1)
    return re.sub(r"<[^>]+>", " ", td).split()


def test_the_receivables_page_adds_up_per_currency_and_bucket(client):
    login(client, "Viewers")
    invoice_of("100", days_overdue=-5)  # USD current: 100.00
    invoice_of("250", days_overdue=10, paid="50")  # 1-30: 200.00
    invoice_of("80", days_overdue=45)  # 31-60: 80.00
    invoice_of("60", days_overdue=100, paid="59.99")  # 90+: 0.01
    invoice_of("70", days_overdue=100, paid="70")  # paid: not open
    void = invoice_of("500", days_overdue=20)
    invoice_void(invoice_id=void.pk, reason="duplicate")  # void: not open
    invoice_of("1000", "JPY", days_overdue=75, paid="400")  # 61-90: 600
    invoice_of("3000", "JPY", days_overdue=0)  # due today: current, 3,000
    invoice_of("12345", "JPY", days_overdue=61)  # 61-90: 12,345
    html = client.get(RECEIVABLES).content.decode()
    assert cell(html, "USD", "current") == ["100.00", "1", "invoice"]
    assert cell(html, "USD", "1–30") == ["200.00", "1", "invoice"]
    assert cell(html, "USD", "31–60") == ["80.00", "1", "invoice"]
    assert cell(html, "USD", "61–90") == ["0.00", "0", "invoices"]
    assert cell(html, "USD", "90+") == ["0.01", "1", "invoice"]
    assert cell(html, "USD", "total") == ["380.01", "4", "invoices"]  # 100+200+80+0.01
    assert cell(html, "JPY", "current") == ["3,000", "1", "invoice"]
    assert cell(html, "JPY", "61–90") == ["12,945", "2", "invoices"]  # 600 + 12,345
    assert cell(html, "JPY", "total") == ["15,945", "3", "invoices"]


def test_each_bucket_links_to_the_invoices_it_counts(client):
    login(client, "Viewers")
    counted = invoice_of("80", days_overdue=31)
    other = invoice_of("90", days_overdue=30)
    html = client.get(RECEIVABLES).content.decode()
    link = re.search(r'data-bucket="31–60"><a href="([^"]+)"', html).group(1)
    listed = client.get(link.replace("&amp;", "&")).content.decode()
    assert f">{counted.number}</span></a>" in listed and f">{other.number}</span></a>" not in listed


def test_nothing_open_says_so(client):
    login(client, "Viewers")
    invoice_of("10", paid="10")
    html = client.get(RECEIVABLES).content.decode()
    assert 'id="nothing-open"' in html and "data-currency" not in html


@pytest.mark.parametrize("role", ["superuser", "Finance", "Account managers", "Viewers"])
def test_everyone_who_views_invoices_sees_receivables_linked_from_the_index(client, role):
    login(client, role)
    invoice_of("10")
    assert client.get(RECEIVABLES).status_code == 200
    assert RECEIVABLES in client.get("/admin/").content.decode()
    assert RECEIVABLES in client.get(LIST).content.decode()


def test_staff_without_invoice_permissions_cannot_see_receivables(client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user("nogroup", password="x-123456-y", is_staff=True))
    assert client.get(RECEIVABLES).status_code == 403
