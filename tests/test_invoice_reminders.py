"""Overdue invoices get one reminder per threshold (INVOICE_REMINDER_DAYS), never twice;
paid and void invoices get none; the reminder says how overdue and what is still due."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from billing.delivery import delivery_send, reminders_create
from billing.models import InvoiceDelivery
from billing.receivables import payment_record
from billing.services import invoice_void, period_close
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _thresholds(settings):
    settings.INVOICE_REMINDER_DAYS = [7, 30, 60]


def issued(amount=D("40.00")):
    w = World(unit_price=amount)
    w.signals(1)
    return period_close(period_id=w.period().pk)


def reminders(invoice):
    return list(
        InvoiceDelivery.objects.filter(invoice=invoice, kind="reminder")
        .order_by("threshold_days")
        .values_list("threshold_days", flat=True)
    )


def test_one_reminder_per_threshold_never_twice():
    invoice = issued()
    due = invoice.due_at
    assert reminders_create(now=due + timedelta(days=6)) == []  # not yet 7 days
    assert len(reminders_create(now=due + timedelta(days=7))) == 1
    assert reminders_create(now=due + timedelta(days=8)) == []  # run again: nothing
    assert len(reminders_create(now=due + timedelta(days=31))) == 1
    assert reminders_create(now=due + timedelta(days=31, hours=1)) == []
    assert reminders(invoice) == [7, 30]


def test_thresholds_reached_at_once_send_only_the_highest():
    invoice = issued()
    assert len(reminders_create(now=invoice.due_at + timedelta(days=65))) == 1
    assert reminders(invoice) == [60]
    assert reminders_create(now=invoice.due_at + timedelta(days=90)) == []  # 7, 30: never


def test_paid_and_void_invoices_get_no_reminder():
    paid, void = issued(), issued()
    payment_record(invoice_id=paid.pk, amount=paid.total, currency="USD", received_on=date.today())
    invoice_void(invoice_id=void.pk, reason="Duplicate")
    assert reminders_create(now=paid.due_at + timedelta(days=40)) == []
    assert reminders(paid) == [] and reminders(void) == []


def test_the_reminder_says_how_overdue_and_the_amount_still_due(mailoutbox):
    invoice = issued()
    payment_record(
        invoice_id=invoice.pk, amount=D("15.00"), currency="USD", received_on=date.today()
    )
    now = invoice.due_at + timedelta(days=8)
    [delivery_id] = reminders_create(now=now)
    assert delivery_send(delivery_id=delivery_id, now=now).state == "sent"
    [message] = mailoutbox
    assert "8 days overdue" in message.subject
    assert "Amount still due: 25.00 USD" in message.body
    assert message.attachments[0][0] == f"{invoice.number}.pdf"


def test_a_reminder_for_an_invoice_paid_meanwhile_is_not_sent(mailoutbox):
    invoice = issued()
    now = invoice.due_at + timedelta(days=8)
    [delivery_id] = reminders_create(now=now)
    payment_record(
        invoice_id=invoice.pk, amount=invoice.total, currency="USD", received_on=date.today()
    )
    delivery = delivery_send(delivery_id=delivery_id, now=now)
    assert delivery.state == "failed" and "is paid" in delivery.last_error
    assert mailoutbox == []
