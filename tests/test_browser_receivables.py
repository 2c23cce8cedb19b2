"""In a real browser (headless Chromium at 1366 x 900): Finance fills the seller profile
with a logo, reads the invoice list (every column on screen, no horizontal scroll), records
a payment from the invoice page until it shows paid, and opens the receivables page.
Screenshots are kept under test-artifacts/."""

import base64
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission

from billing.models import Invoice, SellerProfile
from tests.receivables_helpers import invoice_of
from tests.test_browser_journey import ARTIFACTS, CHROMIUM, login, user
from tests.test_browser_journey import browser as browser  # the fixture, re-exported

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("migrated_groups"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


# What Finance needs here. The groups come from data migrations, and an earlier
# transactional test may have flushed them (permissions are recreated on a flush).
FINANCE = [
    "view_invoice",
    "view_invoiceline",
    "view_invoicetax",
    "view_payment",
    "add_payment",
    "view_billingperiod",
    "view_sellerprofile",
    "change_sellerprofile",
]


def finance_group():
    group, _ = Group.objects.get_or_create(name="Finance")
    group.permissions.add(*Permission.objects.filter(codename__in=FINANCE))


def test_finance_fills_billing_details_records_a_payment_and_reads_receivables(
    live_server, browser, tmp_path
):
    base = live_server.url
    finance_group()
    user("fin", "Finance")
    invoice = invoice_of("1234.56", days_overdue=12)
    invoice_of("3000", "JPY", days_overdue=40, paid="1000")
    invoice_of("80", days_overdue=-5)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    login(page, base, "fin")

    page.goto(f"{base}/admin/billing/sellerprofile/")
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    page.fill("#id_legal_name", "Northwind Outcomes Ltd")
    page.set_input_files("#id_logo_upload", str(logo))
    page.click("input[name=_save]")
    page.wait_for_selector("#logo-preview")
    assert SellerProfile.current().legal_name == "Northwind Outcomes Ltd"
    assert SellerProfile.current().logo_type == "image/png"

    page.goto(f"{base}/admin/billing/invoice/")
    page.screenshot(path=str(ARTIFACTS / "invoice-list-1366.png"))
    widths = page.evaluate(
        """() => { const r = document.querySelector('.results');
                   return [r.scrollWidth, r.clientWidth]; }"""
    )
    assert widths[0] <= widths[1], f"the list scrolls sideways at 1366 px: {widths}"
    overflowing = page.evaluate(
        """() => [...document.querySelectorAll('#result_list th, #result_list td')]
                 .filter(c => c.scrollWidth > c.clientWidth + 1).length"""
    )
    assert overflowing == 0
    headers = page.locator("#result_list thead th").all_inner_texts()
    for name in ("NUMBER", "CUSTOMER", "PERIOD", "TOTAL", "AMOUNT DUE", "DUE", "STATUS"):
        assert any(name in h.upper() for h in headers), headers
    row = page.locator("#result_list tr", has_text=invoice.number)
    assert "Overdue 12 days" in row.inner_text() and "1,234.56 USD" in row.inner_text()

    row.locator("a").first.click()
    page.click("#record-payment")
    assert page.input_value("#id_currency") == "USD"
    page.fill("#id_amount", "2000")
    page.click("#payment-form input[type=submit]")
    assert "more than the 1,234.56 USD due" in page.inner_text(".errorlist")
    page.fill("#id_amount", "1234.56")
    page.fill("#id_reference", "BANK-42")
    page.click("#payment-form input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert "Payment of 1,234.56 USD recorded." in page.inner_text(".messagelist")
    assert "BANK-42" in page.content() and page.locator("#record-payment").count() == 0
    page.screenshot(path=str(ARTIFACTS / "invoice-paid.png"), full_page=True)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_paid == D("1234.56")

    page.goto(f"{base}/admin/billing/invoice/?payment=paid")
    assert invoice.number in page.inner_text("#result_list")
    page.click("#receivables-link")
    page.wait_for_selector("#receivables")
    page.screenshot(path=str(ARTIFACTS / "receivables.png"), full_page=True)
    usd = page.inner_text('tr[data-currency="USD"] [data-bucket="total"]')
    jpy = page.inner_text('tr[data-currency="JPY"] [data-bucket="31–60"]')
    assert usd.split() == ["80.00", "1", "invoice"]  # the paid one is no longer open
    assert jpy.split() == ["2,000", "1", "invoice"]  # 3,000 - 1,000
