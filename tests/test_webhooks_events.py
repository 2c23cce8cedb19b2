"""Events recorded from billing's signals: one per fact (a signal received twice or a
task run twice records nothing new), one delivery per active subscribed endpoint, a
payload fixed when recorded; unknown types refused; a close never waits for a receiver."""

import time
from datetime import date
from decimal import Decimal as D
from unittest import mock

import pytest
from celery import current_app
from django.utils import timezone

from billing.credit_notes import CreditRequest, credit_note_issue, credit_note_issued
from billing.disputes import dispute_open_from_statement, dispute_opened, dispute_resolved
from billing.models import CreditNote, Dispute, DisputedOutcome
from billing.receivables import payment_record, payment_recorded
from billing.services import invoice_issued, invoice_void, invoice_voided, period_close
from tests.billing_helpers import World
from tests.webhook_helpers import endpoint, silent_socket
from webhooks.events import UnknownEventType, event_record
from webhooks.models import Delivery, Event
from webhooks.tasks import deliver_webhook

pytestmark = pytest.mark.django_db
URL = "http://127.0.0.1:9/hooks"


def closed(unit_price="34.70", n=3):
    w = World(unit_price=D(unit_price))
    signals = w.signals(n)
    return w, signals, period_close(period_id=w.period().pk)


def test_the_same_fact_twice_makes_one_event_and_one_delivery_per_endpoint():
    erp = endpoint(URL, types=["invoice.issued", "invoice.paid"])
    crm = endpoint(URL, types=["*"])
    endpoint(URL, types=["credit_note.issued"])  # not subscribed
    endpoint(URL, types=["*"], active=False)  # inactive
    _, _, invoice = closed()
    for _ in range(2):  # a receiver connected twice, a task run twice
        invoice_issued.send(sender=None, invoice_id=invoice.pk, delivery_id=0)
    event = Event.objects.get()
    assert (event.type, event.key) == ("invoice.issued", f"invoice.issued:{invoice.pk}")
    assert sorted(d.endpoint_id for d in Delivery.objects.all()) == [erp.pk, crm.pk]


def test_a_payload_is_fixed_when_recorded():
    endpoint(URL)
    _, _, invoice = closed()
    invoice_issued.send(sender=None, invoice_id=invoice.pk, delivery_id=0)
    payment_record(
        invoice_id=invoice.pk, amount=D("104.10"), currency="USD", received_on=date(2026, 2, 9)
    )
    payment_recorded.send(sender=None, invoice_id=invoice.pk, payment_id=0, paid=True)
    issued = Event.objects.get(type="invoice.issued")
    paid = Event.objects.get(type="invoice.paid")
    assert issued.payload["data"]["status"] == "issued"
    assert issued.payload["data"]["amount_due"] == "104.10"  # as it was when issued
    assert paid.payload["data"]["status"] == "paid"
    assert (paid.payload["data"]["amount_paid"], paid.payload["data"]["amount_due"]) == (
        "104.10",
        "0.00",
    )


def test_invoice_paid_only_when_the_payment_settles_it():
    endpoint(URL)
    _, _, invoice = closed()
    payment_recorded.send(sender=None, invoice_id=invoice.pk, payment_id=0, paid=False)
    assert not Event.objects.filter(type="invoice.paid").exists()


def test_void_and_period_closed_events():
    endpoint(URL)
    w, _, invoice = closed()
    from billing.services import period_closed

    period_closed.send(sender=None, period_id=w.period().pk)
    period_closed.send(sender=None, period_id=w.period().pk)
    invoice_void(invoice_id=invoice.pk, reason="wrong data")
    invoice_voided.send(sender=None, invoice_id=invoice.pk)
    closed_event = Event.objects.get(type="period.closed")
    assert closed_event.payload["data"]["invoice"] == invoice.number
    assert closed_event.payload["data"]["customer"] == w.customer.external_id
    voided = Event.objects.get(type="invoice.voided")
    assert voided.payload["data"]["status"] == "void"
    assert voided.payload["data"]["amount_due"] == "0.00"


def test_credit_note_and_dispute_events_from_their_signals():
    endpoint(URL)
    w, signals, invoice = closed()
    note = credit_note_issue(invoice_id=invoice.pk, reason="Goodwill")
    dispute = Dispute.objects.create(
        customer=w.customer,
        invoice=invoice,
        source=Dispute.Source.ADMIN,
        reason="Not resolved",
        opened_at=timezone.now(),
    )
    DisputedOutcome.objects.create(dispute=dispute, signal=signals[0], reason="reopened")
    for _ in range(2):
        credit_note_issued.send(sender=CreditNote, credit_note_id=note.pk)
        dispute_opened.send(sender=Dispute, dispute_id=dispute.pk)
    Dispute.objects.filter(pk=dispute.pk).update(
        state=Dispute.State.ACCEPTED, resolved_at=timezone.now(), credit_note=note
    )
    DisputedOutcome.objects.filter(dispute=dispute).update(credited=D("34.7"))
    dispute_resolved.send(sender=Dispute, dispute_id=dispute.pk)
    assert Event.objects.filter(type="credit_note.issued").count() == 1
    data = Event.objects.get(type="credit_note.issued").payload["data"]
    assert (data["number"], data["invoice"], data["total"], data["reason"]) == (
        note.number,
        invoice.number,
        "104.10",
        "Goodwill",
    )
    opened = Event.objects.get(type="dispute.opened").payload["data"]
    assert (opened["state"], opened["credit_note"], opened["invoice"]) == (
        "open",
        None,
        invoice.number,
    )
    assert opened["outcomes"] == [
        {
            "signal_id": signals[0].pk,
            "idempotency_key": signals[0].idempotency_key,
            "credited": None,
        }
    ]
    resolved = Event.objects.get(type="dispute.resolved").payload["data"]
    assert (resolved["state"], resolved["credit_note"]) == ("accepted", note.number)
    assert resolved["outcomes"][0]["credited"] == "34.70"
    assert Delivery.objects.count() == 3


def test_an_unknown_event_type_is_refused_and_stores_nothing():
    endpoint(URL)
    with pytest.raises(UnknownEventType, match=r"Unknown event type “invoice\.deleted”"):
        event_record(event_type="invoice.deleted", key="x:1", data=lambda: {})
    assert not Event.objects.exists() and not Delivery.objects.exists()


def test_a_receiver_that_fails_never_turns_the_fact_into_an_error(caplog):
    endpoint(URL)
    invoice_issued.send(sender=None, invoice_id=987654, delivery_id=0)  # no such invoice
    assert "could not record the webhook event invoice.issued:987654" in caplog.text
    assert not Event.objects.exists()


@pytest.mark.parametrize("eager", [False, True])
def test_closing_never_waits_for_a_receiver_that_hangs(
    eager, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 30
    before = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = eager
    try:
        with silent_socket() as url:
            endpoint(url)
            w = World(unit_price=D(1))
            w.signals(2)
            with (
                mock.patch.object(deliver_webhook, "delay") as queued,
                django_capture_on_commit_callbacks(execute=True),
            ):
                started = time.monotonic()
                invoice = period_close(period_id=w.period().pk)
                elapsed = time.monotonic() - started
    finally:
        current_app.conf.task_always_eager = before
    assert invoice.status == "issued"
    assert elapsed < 10  # far below the receiver's 30 s timeout
    deliveries = Delivery.objects.order_by("event__type")
    assert [(d.event.type, d.state, d.attempts) for d in deliveries] == [
        ("invoice.issued", "pending", 0),
        ("period.closed", "pending", 0),
    ]
    # Queued to a worker; under eager Celery left to the beat rather than run inline.
    assert queued.call_count == (0 if eager else 2)


def test_a_credit_note_that_settles_a_partly_paid_invoice_records_invoice_paid_once(
    django_capture_on_commit_callbacks,
):
    endpoint(URL)
    _, _, invoice = closed()  # 3 x 34.70 = 104.10, no tax
    line = invoice.lines.get()
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(
            invoice_id=invoice.pk, amount=D("100.00"), currency="USD", received_on=date(2026, 2, 9)
        )
    assert not Event.objects.filter(type="invoice.paid").exists()  # 4.10 still due
    with django_capture_on_commit_callbacks(execute=True):
        note = credit_note_issue(
            invoice_id=invoice.pk,
            reason="Goodwill",
            lines=[CreditRequest(invoice_line_id=line.pk, amount=D("4.10"))],
        )
    paid = Event.objects.get(type="invoice.paid")
    assert paid.key == f"invoice.paid:{invoice.pk}"
    data = paid.payload["data"]
    assert (data["status"], data["amount_paid"], data["amount_credited"], data["amount_due"]) == (
        "paid",
        "100.00",
        "4.10",
        "0.00",
    )
    assert Event.objects.get(type="credit_note.issued").payload["data"]["number"] == note.number
    # The payment path arriving too (a signal again) records nothing more.
    payment_recorded.send(sender=None, invoice_id=invoice.pk, payment_id=0, paid=True)
    credit_note_issued.send(sender=CreditNote, credit_note_id=note.pk)
    assert Event.objects.filter(type="invoice.paid").count() == 1


def test_a_credit_note_on_an_unpaid_invoice_records_no_invoice_paid(
    django_capture_on_commit_callbacks,
):
    endpoint(URL)
    _, _, invoice = closed()
    with django_capture_on_commit_callbacks(execute=True):
        credit_note_issue(invoice_id=invoice.pk, reason="Goodwill")  # credited in full
    assert Event.objects.filter(type="credit_note.issued").count() == 1
    assert not Event.objects.filter(type="invoice.paid").exists()


def test_an_auto_accepted_dispute_opens_as_open_and_resolves_as_accepted(
    django_capture_on_commit_callbacks,
):
    """Accepted in the transaction that opened it: dispute.opened (recorded after
    commit) still reports what was opened; dispute.resolved reports the acceptance."""
    endpoint(URL)
    w = World(unit_price=D("5.00"), agreement_kwargs={"dispute_auto_accept_up_to": D("5.00")})
    signals = w.signals(3)
    invoice = period_close(period_id=w.period().pk)
    with django_capture_on_commit_callbacks(execute=True):
        dispute = dispute_open_from_statement(
            invoice_id=invoice.pk, signal_id=signals[0].pk, reason="Reopened"
        )
    assert dispute.state == "accepted" and dispute.credit_note is not None
    opened = Event.objects.get(type="dispute.opened").payload["data"]
    assert (opened["state"], opened["resolved_at"], opened["credit_note"]) == ("open", None, None)
    assert opened["outcomes"] == [
        {
            "signal_id": signals[0].pk,
            "idempotency_key": signals[0].idempotency_key,
            "credited": None,
        }
    ]
    assert opened["reason"] == "Reopened" and opened["invoice"] == invoice.number
    resolved = Event.objects.get(type="dispute.resolved").payload["data"]
    assert (resolved["state"], resolved["credit_note"]) == ("accepted", dispute.credit_note.number)
    assert resolved["resolved_at"] is not None
    assert resolved["outcomes"][0]["credited"] == "5.00"
