"""In a real browser (headless Chromium): the customer disputes an outcome from the
statement page (reason, "Dispute"), Finance accepts it on the dispute's admin page, and
a credit note for exactly that outcome exists. Screenshots under test-artifacts/."""

from decimal import Decimal as D
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission

from billing.disputes import dispute_open
from billing.models import CreditNote, Dispute
from billing.services import period_close
from billing.statements import statement_token
from tests.billing_helpers import World
from tests.browser_helpers import box_right_edge, page_scrolls_sideways
from tests.test_browser_journey import ARTIFACTS, CHROMIUM, login, user
from tests.test_browser_journey import browser as browser  # the fixture, re-exported

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("migrated_groups"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]

# The groups come from data migrations, and an earlier transactional test may have
# flushed them (permissions are recreated on a flush).
FINANCE = ["view_dispute", "view_disputedoutcome", "resolve_dispute", "view_invoice"]


def test_the_customer_disputes_an_outcome_and_finance_accepts_it(live_server, browser):
    group, _ = Group.objects.get_or_create(name="Finance")
    group.permissions.add(*Permission.objects.filter(codename__in=FINANCE))
    user("fin", "Finance")
    w = World(unit_price=D("5.00"))
    signals = w.signals(3)
    invoice = period_close(period_id=w.period().pk)
    base = live_server.url

    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(f"{base}/statements/{statement_token(invoice.pk)}/")
    row = page.locator(f"#outcome-{signals[1].pk}")
    row.locator("input[name=reason]").fill("The ticket was reopened the next day")
    row.locator("button", has_text="Dispute").click()
    page.wait_for_selector("text=is open: your account manager will answer it")
    page.screenshot(path=str(ARTIFACTS / "dispute-statement.png"), full_page=True)
    dispute = Dispute.objects.get()
    assert dispute.reason == "The ticket was reopened the next day"

    login(page, base, "fin")
    page.goto(f"{base}/admin/billing/dispute/{dispute.pk}/change/")
    # The Resolve box sits in the content column: Finance sees the note without scrolling
    # sideways.
    page.screenshot(path=str(ARTIFACTS / "dispute-open-1366.png"), full_page=True)
    assert box_right_edge(page, "#id_note") <= 1366
    assert box_right_edge(page, "#reject-dispute") <= 1366
    assert not page_scrolls_sideways(page)
    page.fill("#id_note", "Confirmed in the ticket history")
    page.click("#accept-dispute")
    page.wait_for_selector("text=accepted: credit note 5.00 USD")
    page.screenshot(path=str(ARTIFACTS / "dispute-accepted.png"), full_page=True)
    note = CreditNote.objects.get()
    assert (note.invoice_id, note.net) == (invoice.pk, D("5.00"))
    dispute.refresh_from_db()
    assert dispute.state == Dispute.State.ACCEPTED and dispute.resolved_by.username == "fin"

    # A 2,000-character reason without a space wraps on the dispute's page.
    long = dispute_open(customer_id=w.customer.pk, signal_ids=[signals[2].pk], reason="x" * 2000)
    page.goto(f"{base}/admin/billing/dispute/{long.pk}/change/")
    page.screenshot(path=str(ARTIFACTS / "dispute-long-reason-1366.png"), full_page=True)
    assert not page_scrolls_sideways(page)
    assert box_right_edge(page, "#id_note") <= 1366
