"""Hand-offs after a commit: services send signals, tasks are queued here (services
never import tasks)."""

import logging

from django.dispatch import receiver

from billing.services import period_closed
from billing.tasks import send_margin_alerts

logger = logging.getLogger(__name__)


@receiver(period_closed)
def queue_margin_check(sender, period_id: int, **kwargs) -> None:
    """Queue the margin check; the invoice is committed already, so a broker that does not
    answer is logged, never raised to whoever closed the period."""
    try:
        send_margin_alerts.delay(period_id)
    except Exception:
        logger.exception("could not queue the margin alert check of period %s", period_id)
