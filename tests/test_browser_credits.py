"""In Chromium at 1366 px: the credits page of a customer whose 2026 commitment was drawn
month by month shows the balance, the forecast and the burn-down chart (drawn, with the
balance steps, the straight line to expiry and the forecast), and fits the window; the
running-out list and the grant list fit too. Screenshots under test-artifacts/."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.credit_grants import top_up_request
from billing.periods import periods_create
from billing.services import invoice_void, period_close
from tests.billing_helpers import World
from tests.browser_helpers import assert_list_fits, page_scrolls_sideways
from tests.credit_helpers import grant
from tests.test_browser_journey import ARTIFACTS, CHROMIUM, login, user
from tests.test_browser_journey import browser as browser  # the fixture, re-exported

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("migrated_groups"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]

YEAR = datetime(2026, 1, 1, tzinfo=UTC)
# Outcomes (at 100.00) per month, January to October.
MONTHLY = [8, 9, 10, 11, 9, 12, 13, 12, 14, 15]


def commitment_drawn_monthly():
    """12,600.00 for 2026 (expiring 1 January 2027) drawn by each month's invoice on the
    1st of the next month: 11,300.00 in all, 1,300.00 left; October's 1,500.00 is the
    last 30 days' use (50.00 a day), so it runs out in 26 days."""
    w = World(unit_price=D("100.00"))
    w.customer.name = "Northwind Outcomes Ltd"
    w.customer.save()
    commitment = grant(
        w.customer, "12600.00", name="2026 commitment", expires_at=datetime(2027, 1, 1, tzinfo=UTC)
    )
    grant(w.customer, "500", name="Docs bundle", unit="outcomes", outcome_definition=w.outcome)
    periods_create(agreement=w.agreement, until=datetime(2026, 11, 1, tzinfo=UTC))
    now = timezone.now()
    for month, outcomes in enumerate(MONTHLY, start=1):
        at = datetime(2026, month, 10, 12, tzinfo=UTC)
        w.signals(outcomes, at=at)
        period = w.period(month)
        closed_at = min(period.ends_at + timedelta(hours=2), now - timedelta(days=1))
        period_close(period_id=period.pk, now=closed_at)
    commitment.refresh_from_db()
    return w, commitment


def running_out_in_5_days():
    """350.00 granted, 300.00 drawn two days ago: 50.00 left at 10.00 a day."""
    w = World(unit_price=D("100.00"))
    w.customer.name = "Contoso Agents GmbH"
    w.customer.save()
    grant(w.customer, "350.00", name="Starter credits")
    w.signals(3)
    period_close(period_id=w.period(1).pk, now=timezone.now() - timedelta(days=2))
    return w


def test_the_credits_page_draws_the_burndown_at_1366_px(live_server, browser):
    w, commitment = commitment_drawn_monthly()
    soon = running_out_in_5_days()
    # The commitment expires first, so it is drawn first; the docs bundle is untouched.
    assert commitment.remaining == D("1300.00")
    user("fin", "Finance")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    login(page, live_server.url, "fin")
    url = reverse("admin:billing_creditgrant_customer", args=[w.customer.pk])
    page.goto(f"{live_server.url}{url}")
    page.wait_for_function(f"() => window.Chart && Chart.getChart('chart-{commitment.pk}')")
    page.screenshot(path=str(ARTIFACTS / "credits-page-1366.png"), full_page=True)
    drawn = page.evaluate(
        """(id) => { const c = Chart.getChart('chart-' + id);
                     return c.data.datasets.map(d => [d.label, d.data.length]); }""",
        commitment.pk,
    )
    labels = [label for label, _ in drawn]
    assert labels == ["Credits left", "Straight to zero at expiry", "Forecast at the current rate"]
    assert drawn[0][1] >= 11  # the grant, ten drawdowns, today
    box = page.locator(f"#chart-{commitment.pk}").bounding_box()
    assert box["width"] > 400 and box["height"] > 200
    assert not page_scrolls_sideways(page)
    assert page.locator("#money-left").inner_text() == "1,300.00 USD"

    page.goto(f"{live_server.url}{reverse('admin:billing_creditgrant_running_out')}")
    page.screenshot(path=str(ARTIFACTS / "credits-running-out-1366.png"), full_page=True)
    assert not page_scrolls_sideways(page)
    # Contoso (5 days) is listed; Northwind (26 days) is not.
    rows = page.locator("#running-out tbody tr")
    assert rows.count() == 1
    assert soon.customer.external_id in rows.first.inner_text()
    assert "50.00 USD" in rows.first.inner_text()

    # The longest source label in the list: a top-up invoiced at once (and voided).
    bought, _ = top_up_request(
        customer=w.customer, amount=D("2500.00"), name="Q4 top-up", invoice_now=True
    )
    invoice_void(invoice_id=bought.purchase_invoice_id, reason="ordered twice")
    page.goto(f"{live_server.url}/admin/billing/creditgrant/")
    page.wait_for_selector("#result_list tbody tr")
    page.screenshot(path=str(ARTIFACTS / "list-billing-creditgrant-1366.png"))
    assert_list_fits(page, ("customer", "name", "amount", "remaining", "expires", "source"))
    page.goto(f"{live_server.url}/admin/billing/creditledgerentry/")
    page.wait_for_selector("#result_list tbody tr")
    page.screenshot(path=str(ARTIFACTS / "list-billing-creditledgerentry-1366.png"))
    assert_list_fits(page, ("at", "customer", "grant", "kind", "amount", "balance after"))
    page.goto(f"{live_server.url}/admin/billing/creditgrant/{commitment.pk}/change/")
    page.screenshot(path=str(ARTIFACTS / "credit-grant-page-1366.png"), full_page=True)
    assert not page_scrolls_sideways(page)
