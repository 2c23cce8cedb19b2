import logging

from celery import shared_task
from django.db import DatabaseError
from django.utils import timezone

from billing.alerts import margin_alert_email, margin_alert_raised
from billing.balance_refresh import balance_refresh, budget_alert_emails_retry
from billing.credits import grants_expire
from billing.delivery import deliveries_due, delivery_send, reminders_create
from billing.documents import PdfRenderError, credit_note_pdf_store, invoice_pdf_store
from billing.margins import margin_alert_raise, margin_figures_refresh
from billing.models import BillingPeriod, InvoiceDelivery, InvoiceDocument, MarginAlert
from billing.periods import periods_create_due, periods_due
from billing.recurring_grants import recurring_grants_create
from billing.services import period_close

logger = logging.getLogger(__name__)


@shared_task
def close_due_periods() -> int:
    """Dispatch one close_period task per due period. Safe to run twice: closing a
    period that is no longer open does nothing."""
    now = timezone.now()
    periods_create_due(now=now)
    due = periods_due(now=now)
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
    # A ClosingError (a configuration problem) is not retried: retrying will not fix it.
    invoice = period_close(period_id=period_id)
    return invoice.number if invoice else None


@shared_task(
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
    name="billing.tasks.refresh_margins",
)
def refresh_margins_task(invoice_id: int) -> int:
    """Recompute an issued invoice's margin figures after late costs; safe to run twice."""
    return margin_figures_refresh(invoice_id=invoice_id)


@shared_task(name="billing.tasks.refresh_balances")
def refresh_balances() -> int:
    """Beat (every BALANCE_REFRESH_SECONDS): recompute the stored balances that changed
    or are getting old, and raise budget alerts once per threshold and period. Safe to
    run twice or concurrently (an upsert per customer; alerts have a unique key). First,
    the alert e-mails that failed are tried again (budget_alert_emails_retry)."""
    budget_alert_emails_retry()
    return balance_refresh()


@shared_task
def send_margin_alerts(period_id: int) -> int | None:
    """After a close: alert once (e-mail, and the margin_alert_raised signal from which
    the webhooks app records a `margin.alert` event) if the deal is below its margin
    target. Never affects the invoice: it runs after the closing transaction committed."""
    try:
        alert = margin_alert_raise(period_id=period_id)
    except BillingPeriod.DoesNotExist:  # a message older than the database it reached
        logger.warning("margin check of period %s skipped: no such period", period_id)
        return None
    if alert is None:
        return None
    margin_alert_email(alert=alert)
    margin_alert_raised.send(sender=MarginAlert, alert_id=alert.pk)
    return alert.pk


# --- Invoice documents and e-mails (billing/documents.py, billing/delivery.py) ---------
@shared_task(
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
    name="billing.tasks.deliver_invoice",
)
def deliver_invoice(delivery_id: int) -> str | None:
    """Send one delivery's e-mail at most once (the row is claimed by a conditional
    UPDATE; a duplicate or concurrent run finds it claimed and does nothing). A failed
    attempt is queued again at its backoff time; the beat's requeue_deliveries is the
    safety net if that message is lost."""
    delivery = delivery_send(delivery_id=delivery_id)
    if delivery is None:
        return None
    if delivery.state == InvoiceDelivery.State.RETRYING:
        deliver_invoice.apply_async((delivery_id,), eta=delivery.next_attempt_at)
    return delivery.state


@shared_task(name="billing.tasks.requeue_deliveries")
def requeue_deliveries() -> int:
    """Beat: queue again every waiting delivery whose attempt is due. Safe to run twice:
    the claim lets one run send."""
    due = deliveries_due(now=timezone.now())
    for delivery_id in due:
        deliver_invoice.delay(delivery_id)
    return len(due)


@shared_task(name="billing.tasks.send_reminders")
def send_reminders() -> int:
    """Beat (hourly): one reminder per overdue threshold, never twice (a unique
    constraint); each new one is queued after its row commits (billing.receivers)."""
    return len(reminders_create())


@shared_task(
    autoretry_for=(DatabaseError, PdfRenderError),
    retry_backoff=True,
    max_retries=5,
    name="billing.tasks.render_invoice_pdf",
)
def render_invoice_pdf(invoice_id: int, variant: str = InvoiceDocument.Variant.ORIGINAL) -> str:
    """Render and store the invoice's PDF of `variant` if it has none; safe to run twice
    (stored once: an existing document is kept)."""
    return invoice_pdf_store(invoice_id, variant).sha256


@shared_task(
    autoretry_for=(DatabaseError, PdfRenderError),
    retry_backoff=True,
    max_retries=5,
    name="billing.tasks.render_credit_note_pdf",
)
def render_credit_note_pdf(credit_note_id: int) -> str:
    """Render and store the credit note's PDF if it has none; safe to run twice (stored
    once: an existing document is kept)."""
    return credit_note_pdf_store(credit_note_id).sha256


# --- Prepaid credits (billing/credits.py, billing/recurring_grants.py) ----------------
@shared_task(name="billing.tasks.create_recurring_grants")
def create_recurring_grants() -> int:
    """Beat (hourly): the grants recurring allowances owe by now, missed ones included;
    safe to run twice or twice at once (each date's grant is created once: a unique key)."""
    return recurring_grants_create(now=timezone.now())


@shared_task(name="billing.tasks.expire_credit_grants")
def expire_credit_grants() -> int:
    """Beat (hourly): write off what is left of expired grants, once each (row lock and
    re-read); a grant waits while an earlier period of its customer may still draw it."""
    return grants_expire(now=timezone.now())
