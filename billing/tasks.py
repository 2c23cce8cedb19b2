from celery import shared_task
from django.db import DatabaseError

from billing.services import ClosingError, close_period, periods_due


@shared_task
def close_due_periods() -> int:
    """Dispatch one close_period task per due period. Safe to run twice: closing a
    period that is no longer open does nothing."""
    due = periods_due()
    for period in due:
        close_period_task.delay(period.pk)
    return len(due)


@shared_task(
    bind=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
    name="billing.tasks.close_period",
)
def close_period_task(self, period_id: int) -> int | None:
    """Close one period exactly once (row lock + database constraint); a retry or a
    duplicate delivery finds it closed and does nothing."""
    try:
        invoice = close_period(period_id=period_id)
    except ClosingError:
        # A configuration problem: retrying will not fix it; it is shown in the admin.
        raise
    return invoice.number if invoice else None
