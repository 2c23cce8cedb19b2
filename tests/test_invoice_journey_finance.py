"""What Finance checks, on the demo data: a period is closed by the Celery task, the
invoice arrives by SMTP (through the receivers and the delivery task, not a direct call),
its PDF is read back and its arithmetic recomputed by hand from the lines; a payment is
recorded; once overdue the invoice triggers one reminder, not two; receivables add up."""

import io
from contextlib import contextmanager
from datetime import timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import BillingPeriod, Invoice, InvoiceDelivery
from billing.money import format_money
from billing.periods import periods_create_due, periods_due
from billing.receivables import payment_record, receivables_aging
from billing.tasks import close_period_task, send_reminders
from config.celery import app
from tests.mail_helpers import pdf_text, smtp_server

pytestmark = pytest.mark.django_db

CENT = D("0.01")


@contextmanager
def eager_tasks():
    """Tasks run where they are queued, as a worker would run them."""
    before = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = before


def test_finance_closes_a_demo_period_and_follows_the_invoice_to_payment(
    settings, django_capture_on_commit_callbacks
):
    settings.INVOICE_REMINDER_DAYS = [7, 30]
    call_command("seed_demo", signals=600, stdout=io.StringIO())
    now = timezone.now()
    periods_create_due(now=now)
    period = next(
        p
        for p in periods_due(now=now)
        if p.agreement.customer.external_id == "cus_06"  # Wayne Retail: GBP, UK VAT 20%
    )
    with (
        smtp_server(settings) as inbox,
        eager_tasks(),
        django_capture_on_commit_callbacks(execute=True),
    ):
        close_period_task.delay(period.pk)
    assert BillingPeriod.objects.get(pk=period.pk).state == "closed"
    invoice = Invoice.objects.get(period=period)
    assert invoice.number == f"INV-{invoice.issued_at.year}-{invoice.sequence:06d}"

    # One e-mail, to the primary billing address and the billing contact.
    assert sorted(e for env in inbox.envelopes for e in env.rcpt_tos) == [
        "accounts-payable@wayne.example",
        "billing@wayne.example",
    ]
    [message] = inbox.messages
    [attachment] = list(message.iter_attachments())
    text = pdf_text(attachment.get_content())

    # By hand from the lines: each line's net is on the PDF; 20% of their sum, rounded
    # half-up once, is the tax; net + tax the total.
    lines = list(invoice.lines.all())
    assert lines and all(line.tax_percent == D(20) for line in lines)
    net = sum(line.amount for line in lines)
    tax = (net * D("0.20")).quantize(CENT, rounding=ROUND_HALF_UP)
    assert (invoice.net, invoice.tax, invoice.total) == (net, tax, net + tax)
    for line in lines:
        assert format_money(line.amount, "GBP") in text
    for expected in (
        "Outcome Agents Ltd",
        "GB980780684",
        "Wayne Retail plc",
        invoice.number,
        f"UK VAT 20% 20% {format_money(net, 'GBP')} {format_money(tax, 'GBP')}",
        f"Net {format_money(net, 'GBP')} GBP",
        f"Tax {format_money(tax, 'GBP')} GBP",
        f"Total {format_money(net + tax, 'GBP')} GBP",
    ):
        assert expected in text, expected

    # A partial payment; the rest stays due.
    paid = (invoice.total / 2).quantize(CENT)
    payment_record(
        invoice_id=invoice.pk, amount=paid, currency="GBP", received_on=now.date(), reference="BT-1"
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due) == ("issued", invoice.total - paid)

    # Ten days past its due date: one reminder (the 7-day threshold), and only one.
    Invoice.objects.filter(pk=invoice.pk).update(due_at=now - timedelta(days=10))
    with smtp_server(settings) as reminders, eager_tasks():
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                send_reminders.delay()
    [reminder] = reminders.messages
    assert "10 days overdue" in reminder["Subject"]
    due = format_money(invoice.total - paid, "GBP")
    assert f"Amount still due: {due} GBP" in reminder.get_body(("plain",)).get_content()
    assert InvoiceDelivery.objects.filter(invoice=invoice, kind="reminder").count() == 1

    # Receivables: the open GBP amount, 10 days past due, is in the 1 to 30 days bucket.
    [gbp] = [row for row in receivables_aging(now=now) if row["currency"] == "GBP"]
    assert gbp["buckets"]["1–30"] == invoice.total - paid
    assert gbp["total"] == sum(gbp["buckets"].values()) == invoice.total - paid

    # The rest is paid: the invoice is paid, nothing is due, no reminder comes any more.
    payment_record(
        invoice_id=invoice.pk,
        amount=invoice.total - paid,
        currency="GBP",
        received_on=now.date(),
        reference="BT-2",
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due) == ("paid", D(0))
    assert not [r for r in receivables_aging(now=now) if r["currency"] == "GBP"]
