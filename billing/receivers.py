"""Hand-offs after a commit: services send signals, tasks are queued here (services
never import tasks)."""

import logging

from django.dispatch import receiver

from agents.models import Cost
from agents.traces import costs_linked
from billing.credit_notes import credit_note_issued
from billing.delivery import delivery_requested
from billing.models import BilledSignal, BillingPeriod, CreditNote, Invoice, InvoiceDocument
from billing.services import invoice_issued, invoice_voided, period_closed
from billing.tasks import (
    deliver_invoice,
    refresh_margins_task,
    render_invoice_pdf,
    send_margin_alerts,
)

logger = logging.getLogger(__name__)


@receiver(period_closed)
def queue_margin_check(sender, period_id: int, **kwargs) -> None:
    """Queue the margin check; the invoice is committed already, so a broker that does not
    answer is logged, never raised to whoever closed the period. No target, no check."""
    if not BillingPeriod.objects.filter(
        pk=period_id, agreement__margin_target__isnull=False
    ).exists():
        return
    try:
        send_margin_alerts.delay(period_id)
    except Exception:
        logger.exception("could not queue the margin alert check of period %s", period_id)


@receiver(costs_linked, sender=Cost)
def queue_margin_refresh(sender, signal_ids, **kwargs) -> None:
    """Costs reached signals already billed on an issued invoice: refresh its margins."""
    invoices = (
        BilledSignal.objects.filter(
            signal_id__in=signal_ids, invoice__status__in=Invoice.Status.live()
        )
        .values_list("invoice_id", flat=True)
        .distinct()
    )
    for invoice_id in invoices:
        try:
            refresh_margins_task.delay(invoice_id)
        except Exception:
            logger.exception("could not queue the margin refresh of invoice %s", invoice_id)


@receiver(credit_note_issued)
def queue_margin_refresh_after_credit(sender, credit_note_id: int, **kwargs) -> None:
    """A credit note took revenue out of its invoice: refresh the invoice's margins (a
    dispute's acceptance refreshes them in its own transaction already; twice is the
    same figures)."""
    invoice_id = CreditNote.objects.filter(pk=credit_note_id).values_list("invoice_id").first()
    if invoice_id is None:
        return
    try:
        refresh_margins_task.delay(invoice_id[0])
    except Exception:
        logger.exception("could not queue the margin refresh of invoice %s", invoice_id[0])


@receiver(invoice_issued)
def queue_invoice_delivery(sender, invoice_id: int, delivery_id: int, **kwargs) -> None:
    """E-mail the new invoice (the task renders and stores its PDF first). A broker that
    does not answer is logged: the pending row stays, and requeue_deliveries finds it."""
    try:
        deliver_invoice.delay(delivery_id)
    except Exception:
        logger.exception("could not queue the e-mail of invoice %s", invoice_id)


@receiver(delivery_requested)
def queue_delivery(sender, delivery_id: int, **kwargs) -> None:
    """A reminder or a resend was recorded: send it (requeue_deliveries if lost)."""
    try:
        deliver_invoice.delay(delivery_id)
    except Exception:
        logger.exception("could not queue delivery %s", delivery_id)


@receiver(invoice_voided)
def queue_void_pdf(sender, invoice_id: int, **kwargs) -> None:
    """Render the voided invoice's watermarked PDF; the original stays as it was."""
    try:
        render_invoice_pdf.delay(invoice_id, InvoiceDocument.Variant.VOID)
    except Exception:
        logger.exception("could not queue the VOID PDF of invoice %s", invoice_id)
