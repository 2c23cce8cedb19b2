"""An issued invoice reaches the billing contacts over a real SMTP conversation, its PDF
attached and complete; a mail server that refuses leaves the invoice issued and the
delivery retrying, then sent once the server accepts; bad input says what to fix."""

from datetime import timedelta
from decimal import Decimal as D
from unittest import mock

import pytest

from billing.delivery import delivery_send
from billing.models import Invoice, InvoiceDelivery, InvoiceDocument
from billing.tasks import deliver_invoice
from tests.mail_helpers import free_port, multi_rate_invoice, pdf_text, smtp_server

pytestmark = pytest.mark.django_db


def delivery_of(invoice):
    return InvoiceDelivery.objects.get(invoice=invoice, kind=InvoiceDelivery.Kind.INVOICE)


def test_invoice_arrives_by_smtp_with_a_complete_pdf(settings):
    w, invoice = multi_rate_invoice()
    # By hand (see multi_rate_invoice): 4.11 + 199.99 net; 0.82 + 10.00 tax; 214.92.
    assert (invoice.net, invoice.tax, invoice.total) == (D("204.10"), D("10.82"), D("214.92"))
    with smtp_server(settings) as inbox:
        state = deliver_invoice(delivery_of(invoice).pk)
    assert state == "sent"
    assert len(inbox.envelopes) == 1
    assert sorted(inbox.envelopes[0].rcpt_tos) == sorted(
        [w.customer.billing_email, "ap@acme.example"]
    )
    message = inbox.messages[0]
    assert invoice.number in message["Subject"] and "214.92 USD" in message["Subject"]
    assert "Outcome Agents Ltd" in message["Subject"]
    body = message.get_body(("plain",)).get_content()
    assert "214.92 USD" in body and "IBAN GB33" in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"{invoice.number}.pdf"
    assert attachment.get_content_type() == "application/pdf"
    pdf = attachment.get_content()
    assert pdf == bytes(InvoiceDocument.objects.get(invoice=invoice).content)
    text = pdf_text(pdf)
    for expected in (
        "Outcome Agents Ltd",
        "GB980780684",  # the seller's tax id
        "12345678",  # registration number
        "Acme Buyer GmbH",
        "Hauptstrasse 5",
        "DE136695976",  # the buyer's tax id
        invoice.number,
        f"{w.outcome.name}: 3 successes; 3 billable (per outcome)",
        "1.37",
        "4.11",
        "Platform fee",
        "199.99",
        "VAT 20% 20% 4.11 0.82",  # the tax summary: name, rate, net, tax
        "Reduced 5% 5% 199.99 10.00",
        "Net 204.10 USD",
        "Tax 10.82 USD",
        "Total 214.92 USD",
        "IBAN GB33 BUKB 2020 1555 5555 55",
    ):
        assert expected in text, expected
    delivery = delivery_of(invoice)
    assert delivery.state == "sent" and delivery.attempts == 1 and delivery.sent_at
    assert sorted(delivery.recipients.split()) == sorted(inbox.envelopes[0].rcpt_tos)


@pytest.mark.parametrize("refuse", ["451 4.3.0 Try again later", "554 5.7.1 Rejected", None])
def test_a_refusing_server_leaves_the_invoice_issued_and_the_delivery_retrying(settings, refuse):
    _, invoice = multi_rate_invoice()
    delivery = delivery_of(invoice)
    if refuse is None:  # nobody listens on the port
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
        failed = delivery_send(delivery_id=delivery.pk)
    else:
        with smtp_server(settings, refuse=refuse) as inbox:
            failed = delivery_send(delivery_id=delivery.pk)
        assert inbox.envelopes == []
    assert failed.state == "retrying" and failed.attempts == 1
    delivery.refresh_from_db()
    assert delivery.state == "retrying" and delivery.attempts == 1
    assert delivery.last_error.startswith("The mail server refused it:")
    assert (refuse or "Connection refused")[:3] in delivery.last_error
    assert delivery.next_attempt_at > delivery.claimed_at
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED

    # Not before its backoff; then, against a server that accepts, sent once.
    with smtp_server(settings) as inbox:
        early = delivery.next_attempt_at - timedelta(seconds=1)
        assert delivery_send(delivery_id=delivery.pk, now=early) is None
        later = delivery.next_attempt_at + timedelta(seconds=1)
        assert delivery_send(delivery_id=delivery.pk, now=later).state == "sent"
        assert delivery_send(delivery_id=delivery.pk, now=later) is None
    assert len(inbox.envelopes) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("sent", 2, "")


def test_backoff_grows_then_gives_up_after_max_attempts(settings):
    settings.INVOICE_DELIVERY_MAX_ATTEMPTS = 3
    _, invoice = multi_rate_invoice()
    delivery = delivery_of(invoice)
    waits = []
    with smtp_server(settings, refuse="451 4.3.0 Try again later") as inbox:
        now = delivery.created_at
        for _ in range(3):
            delivery = delivery_send(delivery_id=delivery.pk, now=now)
            if delivery.next_attempt_at:
                waits.append(delivery.next_attempt_at - now)
                now = delivery.next_attempt_at
    assert waits == [timedelta(minutes=2), timedelta(minutes=4)]
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", 3)
    assert "451" in delivery.last_error and inbox.envelopes == []
    assert delivery_send(delivery_id=delivery.pk, now=now + timedelta(days=1)) is None


def test_customer_without_billing_email_fails_with_what_to_do(settings, mailoutbox):
    w, invoice = multi_rate_invoice()
    w.customer.billing_email = ""
    w.customer.save()
    w.customer.contacts.update(billing=False)
    delivery = delivery_send(delivery_id=delivery_of(invoice).pk)
    assert delivery.state == "failed" and mailoutbox == []
    assert delivery.last_error == (
        f"Customer {w.customer.name} has no billing e-mail: add one on the customer page, "
        "then resend."
    )
    invoice.refresh_from_db()
    assert invoice.status == "issued"
    # The invoice keeps its PDF all the same, for Finance to send once it is fixed.
    assert InvoiceDocument.objects.filter(invoice=invoice, variant="original").count() == 1


def test_an_unexpected_error_before_sending_leaves_the_delivery_retrying(mailoutbox):
    _, invoice = multi_rate_invoice()
    broken = mock.patch("billing.delivery.delivery_message", side_effect=ValueError("bad header"))
    with broken:
        delivery = delivery_send(delivery_id=delivery_of(invoice).pk)
    assert (delivery.state, delivery.attempts, mailoutbox) == ("retrying", 1, [])
    assert delivery.last_error == "The e-mail could not be prepared: ValueError: bad header"
    later = delivery.next_attempt_at
    assert delivery_send(delivery_id=delivery.pk, now=later).state == "sent"
    assert len(mailoutbox) == 1


def test_pdf_renderer_failure_retries_with_the_reason_and_stores_nothing(mailoutbox):
    _, invoice = multi_rate_invoice()
    with mock.patch("weasyprint.HTML", side_effect=RuntimeError("cairo is missing")):
        delivery = delivery_send(delivery_id=delivery_of(invoice).pk)
    assert delivery.state == "retrying" and mailoutbox == []
    assert delivery.last_error == (
        f"PDF of invoice {invoice.number}: could not be rendered: RuntimeError: cairo is missing"
    )
    assert not InvoiceDocument.objects.exists()
    invoice.refresh_from_db()
    assert invoice.status == "issued"
