"""Delivering an event to an endpoint: at least once, one attempt at a time.

A worker claims a due delivery with one conditional UPDATE (pending/retrying and due ->
sending, attempts + 1); only the worker that changed the row sends, so two workers never
send the same attempt. An attempt takes at most attempt_timeout() in all, and whatever
goes wrong after the claim ends it (logged, retried). A claim older than STALE_CLAIM (its
worker died mid-send) may be claimed again until give_up_at, then is failed: receivers
deduplicate by the event id, so sending twice is safe and losing an event is not. 2xx
is delivered; anything else (including a redirect, which is never followed) is retried
with backoff until WEBHOOK_RETRY_FOR has passed since the event (or the replay), then
failed. Every attempt is logged as an Attempt row.
"""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from webhooks.endpoints import endpoint_failed, endpoint_succeeded
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.sending import error_text, post, text_storable
from webhooks.signing import event_body, signature_header

logger = logging.getLogger(__name__)

State = Delivery.State
WAITING = (State.PENDING, State.RETRYING)
USER_AGENT = "outcome-billing-webhooks/1.0"
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
STALE_CLAIM = timedelta(minutes=10)
# A pending row younger than this is left to the task queued when it was created.
REQUEUE_GRACE = timedelta(minutes=1)
# The total time of an attempt, whatever WEBHOOK_TIMEOUT_SECONDS says: well under
# STALE_CLAIM, so a claim goes stale only when its worker is gone.
ATTEMPT_SECONDS_MAX = 60


def attempt_timeout() -> float:
    """Seconds one attempt may take in all (connecting, sending, the whole answer)."""
    return min(float(settings.WEBHOOK_TIMEOUT_SECONDS), ATTEMPT_SECONDS_MAX)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 1 min, 2, 4... at most an hour."""
    return min(BACKOFF_FIRST * 2 ** (attempts - 1), BACKOFF_MAX)


def _claimable(now: datetime) -> Q:
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    # A stale claim (its worker died mid-send) is sent again, but never past give_up_at:
    # stale_claims_expire fails it then.
    stale = Q(state=State.SENDING, claimed_at__lt=now - STALE_CLAIM, give_up_at__gte=now)
    return (Q(state__in=WAITING) & due) | stale


def delivery_claim(*, delivery_id: int, now: datetime) -> bool:
    """Due (or stale) -> sending, attempts + 1, in one conditional UPDATE; True only for
    the one caller that changed the row. An inactive endpoint's delivery is not claimed."""
    # No join in this UPDATE: with one, Django filters by `id IN (SELECT ...)`, and
    # PostgreSQL re-checks a row a concurrent claim just changed against that stale
    # subquery, so both claims would win. EXISTS keeps the conditions on the row itself.
    active = Exists(Endpoint.objects.filter(pk=OuterRef("endpoint_id"), active=True))
    claimed = Delivery.objects.filter(_claimable(now), active, pk=delivery_id).update(
        state=State.SENDING, attempts=F("attempts") + 1, claimed_at=now
    )
    return claimed == 1


def _finish(delivery: Delivery, **fields) -> bool:
    # Only from the claim this worker holds (a stale reclaim moves claimed_at on).
    done = Delivery.objects.filter(
        pk=delivery.pk, state=State.SENDING, claimed_at=delivery.claimed_at
    ).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    return done == 1


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> Delivery | None:
    """Make one attempt of a delivery, if this caller claims it; returns it in its new
    state (delivered, retrying, failed), or None if it was not due, taken by another
    worker, or its endpoint is inactive. Logs the attempt; updates the endpoint's run of
    failures (disabling it after too many, with one e-mail to Finance). Once claimed, an
    attempt always ends its claim: an unexpected error is logged as the attempt's error
    and retried like any failure."""
    now = now or timezone.now()
    if not delivery_claim(delivery_id=delivery_id, now=now):
        inactive = Exists(Endpoint.objects.filter(pk=OuterRef("endpoint_id"), active=False))
        Delivery.objects.filter(inactive, pk=delivery_id, state__in=WAITING).update(
            state=State.FAILED,
            next_attempt_at=None,
            last_error="Not sent: the endpoint is inactive. Re-enable it, then replay.",
        )
        stale_claims_expire(now=now, delivery_id=delivery_id)
        return None
    delivery = Delivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    attempt = Attempt(
        delivery=delivery,
        number=delivery.attempts,
        started_at=now,
        url=delivery.endpoint.url,
        signed_at=int(time.time()),
    )
    started = time.monotonic()
    try:
        _send(delivery, attempt)
        attempt.duration_ms = round((time.monotonic() - started) * 1000)
        _attempt_save(attempt)
    except Exception as exc:  # a bug or the database: end the claim all the same
        logger.exception("webhook delivery %s: unexpected error", delivery_id)
        attempt.status_code, attempt.succeeded, attempt.response_excerpt = None, False, ""
        attempt.error = text_storable(f"Unexpected error: {type(exc).__name__}: {exc}")
        attempt.duration_ms = round((time.monotonic() - started) * 1000)
        try:
            _attempt_save(attempt)
        except Exception:
            logger.exception("webhook delivery %s: the attempt could not be logged", delivery_id)
    return _settle(delivery, attempt, now)


def _send(delivery: Delivery, attempt: Attempt) -> None:
    """POST the event signed; the answer (or why there is none) goes into `attempt`."""
    endpoint, timeout = delivery.endpoint, attempt_timeout()
    body = event_body(delivery.event.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Webhook-Id": delivery.event_id,
        "Webhook-Signature": signature_header(
            secret=endpoint.secret, body=body, timestamp=attempt.signed_at
        ),
    }
    try:
        attempt.status_code, attempt.response_excerpt = post(
            url=endpoint.url, body=body, headers=headers, timeout=timeout
        )
    except Exception as exc:  # every failure is logged and retried the same way
        attempt.error = error_text(exc, timeout)
    code = attempt.status_code
    attempt.succeeded = code is not None and 200 <= code < 300
    if code is not None and not attempt.succeeded:
        attempt.error = f"HTTP {code}" + (
            " (redirects are not followed)" if 300 <= code < 400 else ""
        )


def _attempt_save(attempt: Attempt) -> None:
    # A savepoint: a failed INSERT leaves a surrounding transaction usable.
    with transaction.atomic():
        attempt.save()


def _settle(delivery: Delivery, attempt: Attempt, now: datetime) -> Delivery:
    """End the claim: delivered, or retrying at the backoff time, or failed past
    give_up_at; count the attempt in the endpoint's run."""
    endpoint = delivery.endpoint
    finished = now + timedelta(milliseconds=attempt.duration_ms)
    if attempt.succeeded:
        _finish(
            delivery,
            state=State.DELIVERED,
            delivered_at=finished,
            next_attempt_at=None,
            last_error="",
        )
        endpoint_succeeded(endpoint_id=endpoint.pk, at=finished)
        return delivery
    retry_at = finished + backoff(delivery.attempts)
    if retry_at <= delivery.give_up_at:
        _finish(delivery, state=State.RETRYING, next_attempt_at=retry_at, last_error=attempt.error)
    else:
        _finish(
            delivery,
            state=State.FAILED,
            next_attempt_at=None,
            last_error=f"Gave up after {delivery.attempts} attempts: {attempt.error}",
        )
    logger.warning("webhook %s to %s: %s", delivery.event_id, endpoint.url, attempt.error)
    endpoint_failed(endpoint_id=endpoint.pk, at=finished, error=attempt.error)
    return delivery


def stale_claims_expire(*, now: datetime, delivery_id: int | None = None) -> int:
    """Fail the deliveries whose worker stopped mid-send after their retry time was over
    (a stale claim is sent again only before give_up_at); how many."""
    stale = Delivery.objects.filter(
        state=State.SENDING, claimed_at__lt=now - STALE_CLAIM, give_up_at__lt=now
    )
    if delivery_id is not None:
        stale = stale.filter(pk=delivery_id)
    return stale.update(
        state=State.FAILED,
        next_attempt_at=None,
        last_error=(
            "Gave up: the last attempt never finished (its worker stopped) and the retry "
            "time is over. Replay the event if the receiver still needs it."
        ),
    )


def deliveries_due(*, now: datetime) -> list[int]:
    """Deliveries whose attempt is due (or whose claim went stale), for the beat to queue
    again: a lost broker message loses no event."""
    fresh_pending = Q(state=State.PENDING, created_at__gt=now - REQUEUE_GRACE)
    return list(
        Delivery.objects.filter(_claimable(now), endpoint__active=True)
        .exclude(fresh_pending)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:1000]
    )
