"""The issue's check, end to end: a customer disputes two outcomes from its statement;
Finance accepts one and rejects the other; the credit note is what the outcome added
(computed by hand below); a disputed outcome that arrives late is never billed; the
margin moves the credited revenue out and keeps the cost; a local webhook receiver gets
every event once, each with a signature it verifies itself.

The world: USD, 5.00 per resolved ticket, VAT 20% on the agreement. January: 3 tickets.
  January invoice   3 x 5.00 = 15.00 net, VAT 3.00, total 18.00
  dispute 1 (accepted): 1 ticket -> credit note 5.00 net + 1.00 VAT = 6.00
  dispute 2 (rejected): nothing credited; the ticket stays billed
  a late January ticket (arrives after the close), disputed and accepted before the
  February close -> never billed, no credit note
  February invoice  2 x 5.00 = 10.00 net, VAT 2.00, total 12.00 (no adjustment line)
  January margin    revenue 15.00 - 5.00 = 10.00; cost 3 x 0.50 = 1.50 stays
"""

import json
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from billing.disputes import dispute_open
from billing.models import CreditNote, Dispute, InvoiceLine, MarginFigure
from billing.services import period_close
from billing.statements import statement_token
from tests import factories as f
from tests.billing_helpers import World
from tests.webhook_helpers import endpoint, receiver, signature_valid
from webhooks.delivery import deliveries_due, delivery_attempt
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db
FEB = datetime(2026, 2, 10, 12, tzinfo=UTC)


def worker_runs_every_queued_delivery():
    """What the webhook worker does with the messages queued after each commit (the test
    broker keeps them): attempt each delivery. A second run, or a duplicate message,
    finds them claimed and delivered and sends nothing."""
    for delivery_id in Delivery.objects.order_by("pk").values_list("pk", flat=True):
        delivery_attempt(delivery_id=delivery_id)
    assert deliveries_due(now=timezone.now()) == []


def staff(client, role):
    user = User.objects.create_user(role.split()[0].lower(), password="pw-123456-x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)


def test_disputes_credit_notes_margins_and_webhooks_add_up(
    client, django_capture_on_commit_callbacks
):
    vat = f.TaxRateFactory(name="VAT 20%", percent=D(20))
    w = World(unit_price=D("5.00"), agreement_kwargs={"tax_rate": vat})
    january = w.signals(3)
    for signal in january:
        f.CostFactory(agent=w.agent, customer=w.customer, signal=signal, amount=D("0.50"))
    with receiver() as (url, inbox):
        hook = endpoint(url)  # every event type
        with django_capture_on_commit_callbacks(execute=True):
            invoice = period_close(period_id=w.period(1).pk)
        assert (invoice.net, invoice.tax, invoice.total) == (D("15.00"), D("3.00"), D("18.00"))

        # The customer disputes two outcomes from the statement link.
        statement = f"/statements/{statement_token(invoice.pk)}/"
        for signal, reason in ((january[0], "Ticket reopened"), (january[1], "Not ours")):
            with django_capture_on_commit_callbacks(execute=True):
                response = client.post(
                    statement + "dispute/", {"signal": signal.pk, "reason": reason}
                )
            assert response.status_code == 302
        accepted, rejected = Dispute.objects.order_by("pk")
        assert accepted.state == rejected.state == Dispute.State.OPEN

        # Finance accepts the first and rejects the second in the admin.
        staff(client, "Finance")
        for dispute, form in ((accepted, {"accept": "1"}), (rejected, {"reject": "1"})):
            form["note"] = "Checked the ticket log"
            with django_capture_on_commit_callbacks(execute=True):
                response = client.post(
                    reverse("admin:billing_dispute_resolve", args=[dispute.pk]), form
                )
            assert response.status_code == 302
        accepted.refresh_from_db()
        rejected.refresh_from_db()
        assert (accepted.state, rejected.state) == ("accepted", "rejected")
        note = accepted.credit_note
        assert (note.net, note.tax, note.total) == (D("5.00"), D("1.00"), D("6.00"))
        assert rejected.credit_note is None and CreditNote.objects.count() == 1
        invoice.refresh_from_db()
        assert (invoice.amount_credited, invoice.amount_due) == (D("6.00"), D("12.00"))

        # A January ticket arrives late; the account manager disputes it before February
        # closes and it is accepted: it is never billed.
        late = w.signal()
        with django_capture_on_commit_callbacks(execute=True):
            late_dispute = dispute_open(
                customer_id=w.customer.pk, signal_ids=[late.pk], reason="Duplicate ticket"
            )
            client.post(
                reverse("admin:billing_dispute_resolve", args=[late_dispute.pk]),
                {"accept": "1", "note": "Duplicate"},
            )
        late_dispute.refresh_from_db()
        assert late_dispute.state == "accepted" and late_dispute.credit_note is None
        w.signals(2, at=FEB)
        with django_capture_on_commit_callbacks(execute=True):
            february = period_close(period_id=w.period(2).pk)
        assert (february.net, february.tax, february.total) == (
            D("10.00"),
            D("2.00"),
            D("12.00"),
        )
        assert not february.lines.filter(kind=InvoiceLine.Kind.ADJUSTMENT).exists()
        assert CreditNote.objects.count() == 1

        # The margin moves the credited revenue out of January and keeps the cost.
        figure = MarginFigure.objects.get(invoice=invoice)
        assert (figure.revenue, figure.cost, figure.margin) == (
            D("10.00"),
            D("1.50"),
            D("8.50"),
        )
        assert (figure.disputed, figure.cost_of_disputes) == (1, D("0.50"))

        worker_runs_every_queued_delivery()
        worker_runs_every_queued_delivery()  # a duplicate message sends nothing again

    events = {e.id: e.type for e in Event.objects.all()}
    expected = {
        "invoice.issued": 2,
        "period.closed": 2,
        "dispute.opened": 3,
        "dispute.resolved": 3,
        "credit_note.issued": 1,
    }
    assert sorted(events.values()) == sorted(t for t, n in expected.items() for _ in range(n))
    assert len(inbox.requests) == len(events)  # each event once, on the wire
    assert sorted(inbox.processed) == sorted(events)
    for headers, body in inbox.requests:
        assert signature_valid(hook.secret, headers["Webhook-Signature"], body)
    bodies = [json.loads(body) for _, body in inbox.requests]
    (credit,) = [b["data"] for b in bodies if b["type"] == "credit_note.issued"]
    assert (credit["number"], credit["total"], credit["tax"]) == (note.number, "6.00", "1.00")
