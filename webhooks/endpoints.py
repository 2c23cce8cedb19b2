"""Endpoints' lifecycle: secrets (made on creation, rotated on request), the run of
failed attempts, automatic disabling with one e-mail to Finance, re-enabling, and
replaying an event to an endpoint."""

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from billing.alerts import finance_recipients
from webhooks.events import deliveries_created
from webhooks.models import Delivery, Endpoint, Event, secret_new

logger = logging.getLogger(__name__)

State = Delivery.State


class ReplayError(ValueError):
    pass


def endpoint_secret_rotate(*, endpoint_id: int) -> str:
    """A new secret for the endpoint, returned once (the admin shows it on the next page
    only); the old one stops signing at once."""
    secret = secret_new()
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    endpoint.secret, endpoint.secret_rotated_at = secret, timezone.now()
    endpoint.save(update_fields=["secret", "secret_rotated_at"])  # audited, secret excluded
    return secret


def endpoint_succeeded(*, endpoint_id: int, at: datetime) -> None:
    Endpoint.objects.filter(pk=endpoint_id).update(failure_run=0, last_success_at=at)


def endpoint_failed(*, endpoint_id: int, at: datetime, error: str) -> bool:
    """Count a failed attempt; disable the endpoint when its run of failures reaches
    WEBHOOK_DISABLE_AFTER_FAILURES. The disabling is one conditional UPDATE (active ->
    inactive), so exactly one worker wins it and Finance gets exactly one e-mail. True
    when this call disabled it."""
    Endpoint.objects.filter(pk=endpoint_id).update(
        failure_run=F("failure_run") + 1, last_failure_at=at
    )
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    reason = f"{limit} failed attempts in a row; the last one: {error}"
    with transaction.atomic():
        disabled = Endpoint.objects.filter(
            pk=endpoint_id, active=True, failure_run__gte=limit
        ).update(active=False, disabled_at=at, disabled_reason=reason)
        if disabled:
            Delivery.objects.filter(
                endpoint_id=endpoint_id, state__in=(State.PENDING, State.RETRYING)
            ).update(
                state=State.FAILED,
                next_attempt_at=None,
                last_error="Not sent: the endpoint was disabled after failures. Re-enable "
                "it, then replay.",
            )
    if disabled:
        endpoint = Endpoint.objects.get(pk=endpoint_id)
        _finance_tell_disabled(endpoint)
    return bool(disabled)


def _finance_tell_disabled(endpoint: Endpoint) -> None:
    recipients = finance_recipients()
    if not recipients:
        logger.error("webhook endpoint %s disabled; no Finance e-mail to tell", endpoint.url)
        return
    page = reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])
    body = (
        f"The webhook endpoint {endpoint.url}"
        + (f" ({endpoint.description})" if endpoint.description else "")
        + f" was disabled on {endpoint.disabled_at:%Y-%m-%d %H:%M} UTC.\n\n"
        f"Why: {endpoint.disabled_reason}\n\n"
        "Nothing more is sent to it; its waiting deliveries were marked failed.\n\n"
        "To re-enable it once the receiver works again: open the admin, Webhooks > "
        f"Endpoints ({page}), select it and run “Re-enable the selected endpoints”. "
        "Then replay the events it missed from Webhooks > Deliveries (filter by the "
        "endpoint and the state “failed”, action “Replay”).\n"
    )
    try:
        send_mail(
            subject=f"Webhook endpoint disabled: {endpoint.url}",
            message=body,
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # the endpoint stays disabled; the admin shows why
        logger.exception("could not e-mail Finance about endpoint %s", endpoint.url)


def endpoint_enable(*, endpoint_id: int) -> bool:
    """Active again with a fresh run of failures; True if it was not active."""
    return bool(
        Endpoint.objects.filter(pk=endpoint_id, active=False).update(
            active=True, failure_run=0, disabled_at=None, disabled_reason=""
        )
    )


def event_replay(*, event_id: str, endpoint_id: int, user=None) -> Delivery:
    """Send the event again to the endpoint: a new delivery (same event id and payload,
    a new attempt with a new signature time), retried for WEBHOOK_RETRY_FOR from now.
    A replay of the same event to the same endpoint still waiting is returned instead
    (a double click sends once). Queued after commit."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
        if not endpoint.active:
            raise ReplayError(f"{endpoint} is not active: re-enable it, then replay.")
        event = Event.objects.get(pk=event_id)
        waiting = Delivery.objects.filter(
            event=event, endpoint=endpoint, replay=True, state__in=(State.PENDING, State.RETRYING)
        ).first()
        if waiting is not None:
            return waiting
        now = timezone.now()
        delivery = Delivery.objects.create(
            event=event,
            endpoint=endpoint,
            replay=True,
            requested_by=user,
            next_attempt_at=now,
            give_up_at=now + settings.WEBHOOK_RETRY_FOR,
        )
        transaction.on_commit(
            lambda: deliveries_created.send(sender=Delivery, delivery_ids=[delivery.pk])
        )
    return delivery
