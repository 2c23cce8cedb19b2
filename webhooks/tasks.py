from celery import shared_task
from django.db import DatabaseError
from django.utils import timezone

from webhooks.delivery import deliveries_due, delivery_attempt, stale_claims_expire
from webhooks.models import Delivery


@shared_task(
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
    name="webhooks.tasks.deliver_webhook",
)
def deliver_webhook(delivery_id: int) -> str | None:
    """One attempt of a delivery, by the worker that claims it (a duplicate or concurrent
    run does nothing). A failed attempt is queued again at its backoff time; the beat's
    requeue_webhook_deliveries is the safety net if that message is lost."""
    delivery = delivery_attempt(delivery_id=delivery_id)
    if delivery is None:
        return None
    if delivery.state == Delivery.State.RETRYING:
        deliver_webhook.apply_async((delivery_id,), eta=delivery.next_attempt_at)
    return delivery.state


@shared_task(name="webhooks.tasks.requeue_webhook_deliveries")
def requeue_webhook_deliveries() -> int:
    """Beat (every minute): queue every delivery whose attempt is due, and fail the ones
    whose worker died mid-send after their retry time. Safe to run twice: the claim lets
    one worker send."""
    now = timezone.now()
    stale_claims_expire(now=now)
    due = deliveries_due(now=now)
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)
