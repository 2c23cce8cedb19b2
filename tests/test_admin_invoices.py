"""Finance closes a period and voids/reissues an invoice from the admin; the invoice has
a printable page and a CSV; the agreement shows its upcoming invoice."""

from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from billing.models import Invoice
from billing.services import period_close
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


def member(client, group):
    user = User.objects.create_user(
        group.lower().replace(" ", ""), password="x-123456-y", is_staff=True
    )
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


def test_finance_closes_a_period_with_the_admin_action(client):
    member(client, "Finance")
    w = World(unit_price=D(2))
    w.signals(3)
    url = reverse("admin:billing_billingperiod_changelist")
    response = client.post(
        url, {"action": "close_now", "_selected_action": [w.period().pk]}, follow=True
    )
    assert "Closed 1 period(s)" in response.content.decode()
    assert Invoice.objects.get().total == D("6.00")


def test_account_manager_cannot_close_or_void(client):
    member(client, "Account managers")
    w = World(unit_price=D(2))
    response = client.get(reverse("admin:billing_billingperiod_changelist"))
    assert response.status_code == 200
    assert "close_now" not in response.content.decode()
    invoice = period_close(period_id=w.period().pk)
    response = client.post(
        reverse("admin:billing_invoice_changelist"),
        {"action": "void_and_reissue", "_selected_action": [invoice.pk], "reason": "x"},
    )
    invoice.refresh_from_db()
    assert invoice.status == "issued"


def test_void_and_reissue_asks_for_a_reason_then_reissues(client):
    user = member(client, "Finance")
    w = World(unit_price=D(1))
    w.signals(2)
    invoice = period_close(period_id=w.period().pk)
    url = reverse("admin:billing_invoice_changelist")
    ask = client.post(url, {"action": "void_and_reissue", "_selected_action": [invoice.pk]})
    assert ask.status_code == 200 and b"reason" in ask.content
    done = client.post(
        url,
        {
            "action": "void_and_reissue",
            "_selected_action": [invoice.pk],
            "reason": "customer disputed",
        },
        follow=True,
    )
    replacement = Invoice.objects.get(replaces=invoice)
    assert f"reissued as {replacement.number}" in done.content.decode()
    invoice.refresh_from_db()
    assert (invoice.status, invoice.voided_by, invoice.void_reason) == (
        "void",
        user,
        "customer disputed",
    )
    assert invoice.history.first().history_change_reason == "customer disputed"


def test_finance_voids_then_reissues_from_the_periods_list(client):
    member(client, "Finance")
    w = World(unit_price=D(1))
    w.signals(2)
    invoice = period_close(period_id=w.period().pk)
    invoices = reverse("admin:billing_invoice_changelist")
    ask = client.post(invoices, {"action": "void", "_selected_action": [invoice.pk]})
    assert ask.status_code == 200 and "later periods wait" in ask.content.decode()
    done = client.post(
        invoices,
        {"action": "void", "_selected_action": [invoice.pk], "reason": "wrong customer"},
        follow=True,
    )
    assert "its period awaits reissue" in done.content.decode()
    assert w.period().state == "voided"
    periods = reverse("admin:billing_billingperiod_changelist")
    listed = client.get(periods, {"state": "voided"}).content.decode()
    assert "Voided (awaiting reissue)" in listed
    closed = client.post(
        periods, {"action": "close_now", "_selected_action": [w.period().pk]}, follow=True
    )
    assert "1 were not open" in closed.content.decode()
    reissued = client.post(
        periods, {"action": "reissue", "_selected_action": [w.period().pk]}, follow=True
    )
    replacement = Invoice.objects.get(replaces=invoice)
    assert f"reissued as invoice {replacement.number}" in reissued.content.decode()
    assert w.period().state == "closed"
    again = client.post(
        periods, {"action": "reissue", "_selected_action": [w.period().pk]}, follow=True
    )
    assert "not reissued: Period" in again.content.decode()
    assert Invoice.objects.filter(status="issued").count() == 1


def test_printable_page_and_csv(admin_client):
    w = World(unit_price=D("1.25"))
    w.signals(4)
    invoice = period_close(period_id=w.period().pk)
    page = admin_client.get(reverse("admin:billing_invoice_print", args=[invoice.pk]))
    assert page.status_code == 200
    assert b'id="invoice-total">5.00 USD' in page.content
    csv_response = admin_client.get(reverse("admin:billing_invoice_csv", args=[invoice.pk]))
    rows = csv_response.content.decode().splitlines()
    assert rows[0].startswith("invoice,kind") and rows[-1].endswith(",5.00,,USD")
    change = admin_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert change.status_code == 200


def test_agreement_page_shows_the_upcoming_invoice(admin_client):
    w = World(unit_price=D(1))
    response = admin_client.get(
        reverse("admin:billing_priceagreement_change", args=[w.agreement.pk])
    )
    assert b"upcoming-invoice" in response.content
    assert not Invoice.objects.exists()  # computed, not issued
