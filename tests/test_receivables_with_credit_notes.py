"""Amount due, status, aging, reminders and the APIs net credit notes: a fully credited
invoice shows "Credited in full", is not overdue and gets no reminder; a partly credited
one shows what was credited. Figures by hand (invoice_of: one line, no tax)."""

import re
from decimal import Decimal as D

import pytest
from django.utils import timezone

from billing.credit_notes import CreditRequest, credit_note_issue
from billing.delivery import reminders_create
from billing.models import Invoice
from billing.receivables import PaymentState, invoices_with_payment_state, receivables_aging
from tests.receivables_helpers import invoice_of, staff

pytestmark = pytest.mark.django_db
LIST = "/admin/billing/invoice/"


def credit(invoice, amount=None, reason="Wrong outcome counted"):
    lines = None if amount is None else [CreditRequest(invoice.lines.get().pk, D(amount))]
    note = credit_note_issue(invoice_id=invoice.pk, reason=reason, lines=lines)
    invoice.refresh_from_db()
    return note


def row_of(html: str, number: str) -> str:
    match = re.search(
        rf"<tr>(?:(?!</tr>).)*>{re.escape(number)}</span></a>(?:(?!</tr>).)*</tr>", html, re.S
    )
    assert match, f"no row for {number}"
    return re.sub(r"<[^>]+>", " ", match.group())


def state_of(invoice, now):
    row = invoices_with_payment_state(Invoice.objects.filter(pk=invoice.pk), now=now).get()
    return row.payment_state, row.due_amount


def test_amount_due_and_state_net_credits_and_payments():
    now = timezone.now()
    full = invoice_of("100", days_overdue=12)
    credit(full)
    part = invoice_of("250", days_overdue=12, paid="50")
    credit(part, "30.00")
    fresh = invoice_of("80", days_overdue=-3)
    credit(fresh, "80.00")  # credited in full by line
    assert (full.amount_due, full.fully_credited) == (D(0), True)
    assert state_of(full, now) == (PaymentState.CREDITED, D(0))
    assert part.amount_due == D("170.00")  # 250 - 50 paid - 30 credited
    assert state_of(part, now) == (PaymentState.OVERDUE, D("170.00"))
    assert state_of(fresh, now) == (PaymentState.CREDITED, D(0))
    assert full.days_overdue(now) == 0 and part.days_overdue(now) == 12
    assert set(Invoice.objects.overdue(now)) == {part}
    assert set(Invoice.objects.open()) == {part}


def test_the_list_and_the_page_show_credited_in_full_and_credited_amounts(client):
    client.force_login(staff("Viewers"))
    full = invoice_of("100", days_overdue=12)
    credit(full)
    part = invoice_of("250", days_overdue=12, paid="50")
    credit(part, "30.00")
    issued = invoice_of("90", days_overdue=-2)
    credit(issued, "10.00")
    html = client.get(LIST).content.decode()
    assert "Credited in full" in row_of(html, full.number)
    assert "0.00 USD" in row_of(html, full.number) and "Overdue" not in row_of(html, full.number)
    assert "Overdue 12 days (partly paid; 30.00 USD credited)" in row_of(html, part.number)
    assert "170.00 USD" in row_of(html, part.number)
    assert "Issued (10.00 USD credited)" in row_of(html, issued.number)
    assert "80.00 USD" in row_of(html, issued.number)
    credited = client.get(LIST, {"payment": "credited"}).content.decode()
    assert full.number in credited and part.number not in credited
    overdue = client.get(LIST, {"payment": "overdue"}).content.decode()
    assert part.number in overdue and full.number not in overdue
    page = client.get(f"{LIST}{full.pk}/change/").content.decode()
    assert "0.00 USD (credited in full)" in page
    page = client.get(f"{LIST}{part.pk}/change/").content.decode()
    assert "170.00 USD, 12 days overdue (30.00 USD credited)" in page


def test_aging_counts_what_is_left_after_credits():
    invoice_of("100", days_overdue=10)  # 1-30: 100.00
    credit(invoice_of("250", days_overdue=10, paid="50"), "30.00")  # 1-30: 170.00
    credit(invoice_of("80", days_overdue=45))  # credited in full: not open
    [usd] = receivables_aging(now=timezone.now())
    assert usd["buckets"]["1–30"] == D("270.00") and usd["counts"]["1–30"] == 2
    assert usd["buckets"]["31–60"] == 0 and usd["total"] == D("270.00")


def test_a_credited_invoice_gets_no_reminder_a_partly_credited_one_says_what_is_due(
    settings, mailoutbox
):
    from billing.delivery import delivery_send

    settings.INVOICE_REMINDER_DAYS = [7]
    full = invoice_of("100", days_overdue=9)
    credit(full)
    part = invoice_of("100", days_overdue=9)
    credit(part, "25.00")
    created = reminders_create(now=timezone.now())
    assert len(created) == 1
    delivery_send(delivery_id=created[0])
    assert part.number in mailoutbox[0].subject
    assert "Amount still due: 75.00 USD" in mailoutbox[0].body
    # A reminder recorded before the credit is not sent once nothing is due.
    late = invoice_of("40", days_overdue=9)
    [reminder] = reminders_create(now=timezone.now())
    credit(late)
    assert delivery_send(delivery_id=reminder).state == "failed"
    assert len(mailoutbox) == 1


def test_the_apis_net_credit_notes(client):
    client.force_login(staff("Finance"))
    part = invoice_of("250", days_overdue=12, paid="50")
    note = credit(part, "30.00")
    full = invoice_of("100", days_overdue=12)
    credit(full)
    read = client.get(f"/api/v1/invoices/{part.pk}").json()
    assert read["amount_due"].startswith("170.00")
    payments = client.get(f"/api/v1/invoices/{part.pk}/payments").json()["results"]
    assert payments[0]["invoice_amount_due"] == "170.00"
    from billing.api.paid_invoice_serializers import InvoiceOut
    from billing.api.paid_invoices import invoices

    paid = InvoiceOut(invoices().get(pk=part.pk)).data
    assert (paid["amountDue"], paid["creditNotesTotal"], paid["paymentStatus"]) == (
        170,
        30,
        "overdue",
    )
    assert InvoiceOut(invoices().get(pk=full.pk)).data["paymentStatus"] == "paid"
    assert note.total == D("30.00")
