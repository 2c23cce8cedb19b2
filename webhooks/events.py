"""Recording events: one per fact, with one delivery per subscribed active endpoint.

Sent after the transaction commits: `deliveries_created(delivery_ids=[...])`;
webhooks.receivers queues them (services never import tasks).
"""

import logging
from collections.abc import Callable

import django.dispatch
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from webhooks.models import Delivery, Endpoint, Event, EventType

logger = logging.getLogger(__name__)

deliveries_created = django.dispatch.Signal()


class UnknownEventType(ValueError):
    pass


def event_type_check(event_type: str) -> str:
    if event_type not in EventType.values:
        raise UnknownEventType(
            f"Unknown event type “{event_type}”: use one of {', '.join(EventType.values)}."
        )
    return event_type


def event_record(*, event_type: str, key: str, data: Callable[[], dict]) -> Event | None:
    """Record the event of one fact (`key`, e.g. `invoice.issued:42`) and its deliveries,
    in one transaction; None if that fact has an event already (a unique key: a signal
    received twice, a task run twice or two workers at once record it once).

    `data` is called only for a new event; the payload it makes is never changed. Each
    active endpoint subscribed to the type gets one delivery, queued after commit."""
    event_type_check(event_type)
    if Event.objects.filter(key=key).exists():
        return None
    now = timezone.now()
    try:
        with transaction.atomic():
            event = Event(type=event_type, key=key, created_at=now)
            event.payload = {
                "id": event.id,
                "type": event_type,
                "created": int(now.timestamp()),
                "data": data(),
            }
            event.save(force_insert=True)
            deliveries = deliveries_create(event=event, now=now)
    except IntegrityError:  # the same fact, recorded by someone else meanwhile
        if Event.objects.filter(key=key).exists():
            return None
        raise
    ids = [d.pk for d in deliveries]
    if ids:
        transaction.on_commit(lambda: deliveries_created.send(sender=Delivery, delivery_ids=ids))
    logger.info("recorded %s %s (%s deliveries)", event_type, event.id, len(ids))
    return event


def deliveries_create(*, event: Event, now) -> list[Delivery]:
    endpoints = [
        endpoint
        for endpoint in Endpoint.objects.filter(active=True).order_by("pk")
        if endpoint.subscribes_to(event.type)
    ]
    return Delivery.objects.bulk_create(
        Delivery(
            event=event,
            endpoint=endpoint,
            next_attempt_at=now,
            give_up_at=event.created_at + settings.WEBHOOK_RETRY_FOR,
        )
        for endpoint in endpoints
    )
