"""In Chromium at 1366 px: the credit note, dispute, webhook endpoint, event and delivery
lists show every column without their box scrolling sideways and no cell spills out of
its box (as the invoice list, test_browser_receivables). Screenshots under test-artifacts/."""

from decimal import Decimal as D
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from billing.disputes import dispute_accept, dispute_open
from billing.services import period_close
from tests.billing_helpers import World
from tests.browser_helpers import assert_list_fits
from tests.test_browser_journey import ARTIFACTS, CHROMIUM, login
from tests.test_browser_journey import browser as browser  # the fixture, re-exported
from tests.webhook_helpers import endpoint
from webhooks.events import event_record
from webhooks.models import Delivery

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("migrated_groups"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]

LISTS = {
    "billing/creditnote": ("number", "invoice", "customer", "issued", "net", "tax", "total"),
    "billing/dispute": ("customer", "invoice", "state", "source", "outcomes", "credit"),
    "webhooks/endpoint": ("url", "description", "state", "events", "last success", "secret"),
    "webhooks/event": ("id", "type", "recorded", "delivered", "waiting", "failed"),
    "webhooks/delivery": ("event", "type", "endpoint", "state", "attempts", "next attempt"),
}


def test_the_lists_fit_1366_px(live_server, browser):
    hook = endpoint(
        "https://erp.northwind-outcomes.example.com/integrations/billing/webhooks/v2/receive",
        description="Northwind ERP (production)",
    )
    w = World(unit_price=D("1250.00"))
    signals = w.signals(2)
    invoice = period_close(period_id=w.period().pk)
    dispute = dispute_open(
        customer_id=w.customer.pk,
        signal_ids=[signals[0].pk],
        reason="The ticket was reopened by the customer two days later",
    )
    dispute_accept(dispute_id=dispute.pk, note="Confirmed in the ticket history")
    dispute_open(customer_id=w.customer.pk, signal_ids=[signals[1].pk], reason="Twice")
    event_record(event_type="invoice.issued", key=f"invoice.issued:{invoice.pk}", data=dict)
    assert Delivery.objects.filter(endpoint=hook).exists()

    User.objects.create_superuser("admin", password="admin-pass-123")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    login(page, live_server.url, "admin")
    for where, columns in LISTS.items():
        page.goto(f"{live_server.url}/admin/{where}/")
        page.wait_for_selector("#result_list tbody tr")
        page.screenshot(path=str(ARTIFACTS / f"list-{where.replace('/', '-')}-1366.png"))
        assert_list_fits(page, columns, where)
