"""A credit note reaches the billing contacts over a real SMTP conversation with its own
PDF attached, through the invoices' delivery engine: one row per credit note, claimed
once, retried with backoff when the server refuses; Finance resends it."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import IntegrityError, transaction

from billing.delivery import credit_note_resend, deliveries_due, delivery_send
from billing.models import CreditNoteDocument, InvoiceDelivery
from billing.tasks import deliver_invoice
from tests.credit_note_helpers import credited_outcome_line
from tests.mail_helpers import pdf_text, smtp_server

pytestmark = pytest.mark.django_db
Kind = InvoiceDelivery.Kind


def delivery_of(note):
    return InvoiceDelivery.objects.get(credit_note=note, kind=Kind.CREDIT_NOTE)


def test_issuing_records_one_email_queued_after_commit(django_capture_on_commit_callbacks):
    with (
        mock.patch("billing.receivers.deliver_invoice.delay") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        _, invoice, note = credited_outcome_line()
    delivery = delivery_of(note)
    assert (delivery.invoice_id, delivery.state) == (invoice.pk, "pending")
    assert mock.call(delivery.pk) in queued.call_args_list
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceDelivery.objects.create(invoice=invoice, credit_note=note, kind=Kind.CREDIT_NOTE)
    with pytest.raises(IntegrityError), transaction.atomic():  # a credit note kind names one
        InvoiceDelivery.objects.create(invoice=invoice, kind=Kind.CREDIT_NOTE_RESEND)


def test_the_credit_note_arrives_by_smtp_with_its_pdf(settings):
    w, invoice, note = credited_outcome_line()
    with smtp_server(settings) as inbox:
        assert deliver_invoice(delivery_of(note).pk) == "sent"
        assert deliver_invoice(delivery_of(note).pk) is None  # sent once
    assert len(inbox.envelopes) == 1
    assert sorted(inbox.envelopes[0].rcpt_tos) == sorted(
        [w.customer.billing_email, "ap@acme.example"]
    )
    message = inbox.messages[0]
    assert message["Subject"] == (
        f"Outcome Agents Ltd: credit note {note.number} for invoice {invoice.number}, 3.29 USD"
    )
    body = message.get_body(("plain",)).get_content()
    assert f"credit note {note.number} for invoice {invoice.number}" in body
    assert "Total credited: 3.29 USD" in body
    assert f"Amount still due on invoice {invoice.number}: 211.63 USD" in body
    assert "IBAN" not in body  # nothing to pay for a credit note
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"{note.number}.pdf"
    pdf = attachment.get_content()
    assert pdf == bytes(CreditNoteDocument.objects.get(credit_note=note).content)
    assert "Total credited 3.29 USD" in pdf_text(pdf)
    delivery = delivery_of(note)
    assert (delivery.state, delivery.attempts) == ("sent", 1)


def test_a_refusing_server_leaves_it_retrying_then_it_is_sent_once(settings):
    _, _, note = credited_outcome_line()
    delivery = delivery_of(note)
    with smtp_server(settings, refuse="451 4.3.0 Try again later") as inbox:
        failed = delivery_send(delivery_id=delivery.pk)
    assert inbox.envelopes == []
    assert (failed.state, failed.attempts) == ("retrying", 1)
    assert "451" in failed.last_error
    assert delivery.pk in deliveries_due(now=failed.next_attempt_at)  # the beat requeues it
    with smtp_server(settings) as inbox:
        early = failed.next_attempt_at - timedelta(seconds=1)
        assert delivery_send(delivery_id=delivery.pk, now=early) is None
        later = failed.next_attempt_at + timedelta(seconds=1)
        assert delivery_send(delivery_id=delivery.pk, now=later).state == "sent"
    assert len(inbox.envelopes) == 1
    assert note.number in inbox.messages[0]["Subject"]


def test_finance_resends_and_a_double_click_queues_one(client, mailoutbox):
    from tests.receivables_helpers import staff

    _, _, note = credited_outcome_line()
    delivery_send(delivery_id=delivery_of(note).pk)
    first = credit_note_resend(credit_note_id=note.pk)
    assert credit_note_resend(credit_note_id=note.pk).pk == first.pk
    assert first.kind == Kind.CREDIT_NOTE_RESEND and first.credit_note_id == note.pk
    delivery_send(delivery_id=first.pk)
    assert len(mailoutbox) == 2 and note.number in mailoutbox[1].subject
    # From the admin: Finance's action; an account manager has no such action.
    client.force_login(staff("Finance"))
    response = client.post(
        "/admin/billing/creditnote/",
        {"action": "resend", "_selected_action": [note.pk]},
        follow=True,
    )
    assert f"Queued the e-mail of {note.number}" in response.content.decode()
    assert (
        InvoiceDelivery.objects.filter(credit_note=note, kind=Kind.CREDIT_NOTE_RESEND).count() == 2
    )
    client.force_login(staff("Account managers"))
    page = client.get("/admin/billing/creditnote/").content.decode()
    assert 'value="resend"' not in page
