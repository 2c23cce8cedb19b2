"""In a real browser (Playwright driving Debian's Chromium, headless): an account manager
creates an agreement with graduated tiers and sees the field error for overlapping tiers,
fixes it; Finance is told to complete the seller profile before closing, fills it in,
closes the period (the invoice is e-mailed with its PDF, tasks run as a worker would),
opens the invoice, downloads its PDF and reads it, and the customer statement; the margin
dashboard's charts are drawn and their numbers match the table. Screenshots are kept
under test-artifacts/. (Recording a payment in the browser: test_browser_receivables.)"""

import hashlib
import shutil
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail

from billing.models import Invoice, PriceAgreement, SellerProfile
from tests import factories as f
from tests.mail_helpers import pdf_text

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("migrated_groups"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test
    # itself are synchronous and safe. (Set for this test only.)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def user(name, group):
    u = User.objects.create_user(name, password=f"{name}-pass-123", is_staff=True)
    u.groups.add(Group.objects.get(name=group))
    return u


def login(page, base, name):
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", name)
    page.fill("#id_password", f"{name}-pass-123")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def choose(page, select_id, value, label):
    """Select a value of an autocomplete (select2) field."""
    page.evaluate(
        """([id, value, label]) => {
            const select = document.getElementById(id);
            select.add(new Option(label, value, true, true));
            select.dispatchEvent(new Event('change', {bubbles: true}));
        }""",
        [select_id, str(value), label],
    )


def test_account_manager_and_finance_journey(live_server, browser):
    from tests.test_invoice_journey_finance import eager_tasks

    base = live_server.url
    SellerProfile.objects.all().delete()  # a new installation: nobody has filled it in
    user("am", "Account managers")
    user("fin", "Finance")
    customer = f.CustomerFactory(external_id="cus_browser", name="Browser Co")
    agent = f.AgentFactory(external_id="doc-bot", name="Doc bot")
    outcome = f.OutcomeDefinitionFactory(agent=agent, name="Docs", event_name="document_processed")
    f.OutcomeCriterionFactory(definition=outcome, field_path="status", value="ok")
    at = datetime(2026, 1, 15, tzinfo=UTC)
    for i in range(12):
        signal = f.SignalFactory(
            agent=agent,
            customer=customer,
            occurred_at=at,
            data={"status": "ok" if i < 10 else "failed"},
        )
        f.CostFactory(
            agent=agent, customer=customer, signal=signal, amount=D("0.20"), model="gpt-4o"
        )

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    login(page, base, "am")
    page.goto(f"{base}/admin/billing/priceagreement/add/")
    choose(page, "id_customer", customer.pk, str(customer))
    page.fill("#id_name", "Browser deal")
    page.fill("#id_starts_on", "2026-01-01")
    page.fill("#id_margin_target", "40")
    page.click("a.djn-model-billing-price:visible")
    choose(page, "id_prices-0-outcome_definition", outcome.pk, str(outcome))
    page.select_option("#id_prices-0-model", "graduated")
    add_tier = page.locator("#prices-0-tiers-group a.djn-add-handler")
    for i in range(2):
        add_tier.click()
        page.wait_for_selector(f"#id_prices-0-tiers-{i}-from_quantity")
    page.fill("#id_prices-0-tiers-0-from_quantity", "0")
    page.fill("#id_prices-0-tiers-0-up_to_quantity", "5")
    page.fill("#id_prices-0-tiers-0-unit_price", "2.00")
    page.fill("#id_prices-0-tiers-1-from_quantity", "3")  # overlaps the first tier
    page.fill("#id_prices-0-tiers-1-unit_price", "1.00")
    page.click("input[name=_save]")
    error = page.locator(".errorlist", has_text="overlaps the one before")
    error.first.wait_for()
    page.screenshot(path=ARTIFACTS / "1-overlapping-tiers.png", full_page=True)
    assert not PriceAgreement.objects.exists()

    page.fill("#id_prices-0-tiers-1-from_quantity", "5")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    agreement = PriceAgreement.objects.get()
    assert agreement.prices.get().tiers.count() == 2

    page.context.clear_cookies()
    login(page, base, "fin")
    january = agreement.periods.get(starts_at__month=1, starts_at__year=2026)

    def close_january():
        page.goto(f"{base}/admin/billing/billingperiod/")
        page.check(f"input[name=_selected_action][value='{january.pk}']")
        page.select_option("select[name=action]", "close_now")
        page.click("button[name=index]")
        page.wait_for_selector(".messagelist", state="visible")
        return page.inner_text(".messagelist")

    refused = close_january()
    assert "not closed: The seller profile is incomplete: fill in legal name" in refused
    assert "Admin › Billing › Seller profile" in refused and not Invoice.objects.exists()
    page.screenshot(path=ARTIFACTS / "2-seller-profile-missing.png", full_page=True)

    page.goto(f"{base}/admin/billing/sellerprofile/")
    page.fill("#id_legal_name", "Journey Outcomes Ltd")
    page.fill("#id_address_line1", "5 Journey Road")
    page.fill("#id_address_city", "Leeds")
    page.fill("#id_address_postal_code", "LS1 1AA")
    page.fill("#id_address_country", "GB")
    page.fill("#id_tax_id", "GB980780685")  # a wrong check digit: stdnum refuses it
    page.fill("#id_payment_instructions", "Sort code 12-34-56, account 12345678")
    page.click("input[name=_save]")
    assert "is not a valid GB tax id: the number's checksum" in page.inner_text(".errorlist")
    page.fill("#id_tax_id", "GB980780684")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    assert "The seller profile was saved." in page.inner_text(".messagelist")
    assert SellerProfile.current().missing == []

    with eager_tasks():  # the e-mail and its PDF, as a worker would send them on commit
        close_january()
    page.screenshot(path=ARTIFACTS / "2-period-closed.png", full_page=True)
    invoice = Invoice.objects.get()
    # 10 successes: 5 x 2.00 + 5 x 1.00
    assert invoice.total == D("15.00")
    [sent] = mail.outbox
    assert sent.to == [customer.billing_email] and invoice.number in sent.subject

    page.goto(f"{base}/admin/billing/invoice/{invoice.pk}/change/")
    page.screenshot(path=ARTIFACTS / "3-invoice-page.png", full_page=True)
    # Every inline (lines, deliveries, ...) fits its box at 1366 px.
    spilling = page.evaluate(
        """() => [...document.querySelectorAll('.inline-group')]
                 .filter(g => g.scrollWidth > g.clientWidth + 1).map(g => g.id)"""
    )
    assert spilling == [] and page.locator("#deliveries-group tbody tr").count() >= 1
    pdf_link = page.locator("a.button", has_text="PDF").first
    shown = page.inner_text("text=SHA-256")
    download = page.request.get(f"{base}{pdf_link.get_attribute('href')}")
    assert download.headers["content-type"] == "application/pdf"
    pdf = download.body()
    assert hashlib.sha256(pdf).hexdigest() in shown
    assert pdf == sent.attachments[0][1]  # the PDF the customer received
    text = pdf_text(pdf)
    for expected in (
        "Journey Outcomes Ltd",
        "GB980780684",
        "Browser Co",
        invoice.number,
        "Docs: 10 successes",
        "Total 15.00 USD",
        "Sort code 12-34-56",
    ):
        assert expected in text, expected
    with page.expect_navigation():
        page.click("text=Printable invoice")
    assert page.inner_text("#invoice-total") == "15.00 USD"
    page.screenshot(path=ARTIFACTS / "3-invoice.png", full_page=True)
    page.go_back()
    statement_href = page.get_attribute("#statement-link", "href")
    statement = browser.new_page()  # the customer has no admin session
    statement.goto(f"{base}{statement_href}")
    assert statement.inner_text("#statement-total") == "15.00 USD"
    assert "10" in statement.inner_text("#outcomes") and "2" in statement.inner_text("#outcomes")
    statement.screenshot(path=ARTIFACTS / "4-statement.png", full_page=True)

    page.goto(f"{base}/admin/billing/marginfigure/")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-agents')")
    drawn = page.evaluate(
        """() => ['chart-periods', 'chart-agents', 'chart-customers', 'chart-models',
                  'chart-failures'].map((id) => {
            const canvas = document.getElementById(id);
            const ctx = canvas.getContext('2d');
            const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
            return {id, width: canvas.width, painted};
        })"""
    )
    assert all(c["width"] > 0 and c["painted"] > 100 for c in drawn), drawn
    chart_values = page.evaluate("() => Chart.getChart('chart-agents').data.datasets[0].data")
    table_values = page.eval_on_selector_all(
        "#table-agents td[data-value]", "cells => cells.map((c) => Number(c.dataset.value))"
    )
    assert chart_values == table_values and len(table_values) == 1
    # revenue 15.00, cost 12 x 0.20 = 2.40: margin 84.0%
    assert table_values == [84.0]
    page.screenshot(path=ARTIFACTS / "5-margin-dashboard.png", full_page=True)
    statement.close()
    page.close()  # let the live server finish its keep-alive requests before it stops
