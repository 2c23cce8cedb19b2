"""Hand-offs after a commit: services send signals, tasks are queued here (services
never import tasks)."""

import logging

from django.dispatch import receiver

from agents.models import Cost
from agents.traces import costs_linked
from billing.models import BilledSignal, Invoice
from billing.services import period_closed
from billing.tasks import refresh_margins_task, send_margin_alerts

logger = logging.getLogger(__name__)


@receiver(period_closed)
def queue_margin_check(sender, period_id: int, **kwargs) -> None:
    """Queue the margin check; the invoice is committed already, so a broker that does not
    answer is logged, never raised to whoever closed the period."""
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
