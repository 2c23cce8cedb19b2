"""Events recorded from billing's signals (all sent after their transaction commits),
and deliveries queued once their rows commit.

A receiver never raises to the sender: the fact it reports is committed already (an
invoice issued, a payment recorded), and a webhook must never turn it into an error."""

import logging
from collections.abc import Callable

from celery import current_app
from django.dispatch import receiver

from billing.alerts import budget_alert_raised, margin_alert_raised
from billing.credit_notes import credit_note_issued
from billing.disputes import dispute_opened, dispute_resolved
from billing.models import BillingPeriod, CreditNote, Invoice
from billing.receivables import payment_recorded
from billing.services import invoice_issued, invoice_voided, period_closed
from webhooks import payloads
from webhooks.events import deliveries_created, event_record
from webhooks.models import EventType
from webhooks.tasks import deliver_webhook

logger = logging.getLogger(__name__)


def _record(event_type: str, key: str, data: Callable[[], dict]) -> None:
    try:
        event_record(event_type=event_type, key=key, data=data)
    except Exception:
        logger.exception("could not record the webhook event %s", key)


@receiver(invoice_issued)
def record_invoice_issued(sender, invoice_id: int, **kwargs) -> None:
    _record(
        EventType.INVOICE_ISSUED,
        f"invoice.issued:{invoice_id}",
        lambda: payloads.invoice_data(invoice_id),
    )


@receiver(invoice_voided)
def record_invoice_voided(sender, invoice_id: int, **kwargs) -> None:
    _record(
        EventType.INVOICE_VOIDED,
        f"invoice.voided:{invoice_id}",
        lambda: payloads.invoice_data(invoice_id),
    )


def _record_paid(invoice_id: int) -> None:
    # One key for both paths (a payment, a credit note covering the rest): whichever
    # comes first records the event, the other records nothing.
    _record(
        EventType.INVOICE_PAID,
        f"invoice.paid:{invoice_id}",
        lambda: payloads.invoice_data(invoice_id),
    )


@receiver(payment_recorded)
def record_invoice_paid(sender, invoice_id: int, paid: bool, **kwargs) -> None:
    if paid:
        _record_paid(invoice_id)


@receiver(period_closed)
def record_period_closed(sender, period_id: int, **kwargs) -> None:
    # A voided period closes again when reissued: each close is its own fact, named by
    # the invoice it issued.
    invoice_id = (
        Invoice.objects.filter(period_id=period_id, status__in=Invoice.Status.live())
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if invoice_id is None and not BillingPeriod.objects.filter(pk=period_id).exists():
        logger.warning("period.closed of period %s skipped: no such period", period_id)
        return
    _record(
        EventType.PERIOD_CLOSED,
        f"period.closed:{period_id}:{invoice_id}",
        lambda: payloads.period_data(period_id),
    )


@receiver(credit_note_issued)
def record_credit_note_issued(sender, credit_note_id: int, **kwargs) -> None:
    """The credit note, and `invoice.paid` when it covered what payments left (a partly
    paid invoice becomes paid by it: no payment will say so)."""
    _record(
        EventType.CREDIT_NOTE_ISSUED,
        f"credit_note.issued:{credit_note_id}",
        lambda: payloads.credit_note_data(credit_note_id),
    )
    try:
        invoice_id, status = (
            CreditNote.objects.filter(pk=credit_note_id)
            .values_list("invoice_id", "invoice__status")
            .get()
        )
    except Exception:
        logger.exception("could not read credit note %s for invoice.paid", credit_note_id)
        return
    if status == Invoice.Status.PAID:
        _record_paid(invoice_id)


@receiver(dispute_opened)
def record_dispute_opened(sender, dispute_id: int, **kwargs) -> None:
    _record(
        EventType.DISPUTE_OPENED,
        f"dispute.opened:{dispute_id}",
        lambda: payloads.dispute_opened_data(dispute_id),
    )


@receiver(dispute_resolved)
def record_dispute_resolved(sender, dispute_id: int, **kwargs) -> None:
    _record(
        EventType.DISPUTE_RESOLVED,
        f"dispute.resolved:{dispute_id}",
        lambda: payloads.dispute_data(dispute_id),
    )


@receiver(margin_alert_raised)
def record_margin_alert(sender, alert_id: int, **kwargs) -> None:
    _record(
        EventType.MARGIN_ALERT,
        f"margin.alert:{alert_id}",
        lambda: payloads.margin_alert_data(alert_id),
    )


@receiver(budget_alert_raised)
def record_budget_threshold(sender, alert_id: int, **kwargs) -> None:
    _record(
        EventType.BUDGET_THRESHOLD,
        f"budget.threshold:{alert_id}",
        lambda: payloads.budget_alert_data(alert_id),
    )


@receiver(deliveries_created)
def queue_deliveries(sender, delivery_ids: list[int], **kwargs) -> None:
    """Queue each new delivery. Under CELERY_TASK_ALWAYS_EAGER a task would run here, in
    the thread that recorded the event (a close, an admin request), and a slow receiver
    would hold it: deliveries are then left to the requeue beat (or deliver_webhook)."""
    if current_app.conf.task_always_eager:
        logger.info("eager Celery: %s webhook deliveries left to the beat", len(delivery_ids))
        return
    for delivery_id in delivery_ids:
        try:
            deliver_webhook.delay(delivery_id)
        except Exception:  # the row waits; requeue_webhook_deliveries finds it
            logger.exception("could not queue webhook delivery %s", delivery_id)
