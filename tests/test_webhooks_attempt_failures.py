"""An attempt always ends its claim and its log: an answer PostgreSQL cannot store as it
is (a NUL byte), an unexpected error, a receiver dripping its answer a byte at a time
(a total deadline, not one per read), and a claim left by a dead worker after the retry
time is over (failed, never sent again)."""

from datetime import timedelta
from unittest import mock

import pytest

from tests.webhook_helpers import dripping_receiver, endpoint, receiver
from webhooks.delivery import STALE_CLAIM, deliveries_due, delivery_attempt
from webhooks.events import event_record
from webhooks.models import Attempt, Delivery
from webhooks.sending import text_storable
from webhooks.tasks import deliver_webhook, requeue_webhook_deliveries

pytestmark = pytest.mark.django_db


def recorded():
    event_record(event_type="invoice.issued", key="invoice.issued:1", data=lambda: {"n": 1})
    return Delivery.objects.get()


def test_an_answer_with_a_nul_byte_is_logged_without_it_and_delivered():
    """On PostgreSQL the NUL made saving the attempt fail: the delivery stayed `sending`
    with nothing logged. Runs on SQLite too (the stored excerpt is the same)."""
    with receiver(body=b"ok\x00") as (url, inbox):
        endpoint(url)
        delivery = delivery_attempt(delivery_id=recorded().pk)
    assert len(inbox.requests) == 1
    assert delivery.state == "delivered"
    attempt = Attempt.objects.get()
    assert (attempt.status_code, attempt.succeeded, attempt.response_excerpt) == (200, True, "ok")
    assert Delivery.objects.get().state == "delivered"


def test_unstorable_characters_are_dropped_from_text():
    assert text_storable("a\x00b\ud800c\udfffd é ✓") == "abcd é ✓"


def test_an_error_text_with_a_nul_and_a_lone_surrogate_is_logged_without_them():
    endpoint("http://127.0.0.1:9/hooks")
    delivery = recorded()
    with mock.patch("webhooks.delivery.post", side_effect=OSError("bad\x00 \udc80answer")):
        delivery = delivery_attempt(delivery_id=delivery.pk)
    assert delivery.state == "retrying"
    attempt = Attempt.objects.get()
    assert attempt.error == "OSError: bad answer"
    assert Delivery.objects.get().last_error == "OSError: bad answer"


def test_an_unexpected_error_is_logged_as_the_attempt_and_retried_with_backoff(caplog):
    hook = endpoint("http://127.0.0.1:9/hooks")
    delivery = recorded()
    now = delivery.next_attempt_at
    with mock.patch("webhooks.delivery.event_body", side_effect=RuntimeError("no body")):
        delivery = delivery_attempt(delivery_id=delivery.pk, now=now)
    assert "webhook delivery" in caplog.text and "unexpected error" in caplog.text
    stored = Delivery.objects.get()
    assert (stored.state, stored.attempts) == ("retrying", 1)
    assert stored.last_error == "Unexpected error: RuntimeError: no body"
    # The backoff of any failed first attempt: a minute after it.
    assert timedelta(minutes=1) <= stored.next_attempt_at - now < timedelta(minutes=1, seconds=5)
    attempt = Attempt.objects.get()
    assert (attempt.number, attempt.status_code, attempt.succeeded) == (1, None, False)
    assert attempt.error == "Unexpected error: RuntimeError: no body"
    hook.refresh_from_db()
    assert hook.failure_run == 1


def test_a_stale_claim_past_its_retry_time_is_failed_not_sent_again():
    with receiver() as (url, inbox):
        endpoint(url)
        delivery = recorded()
        # A worker died mid-send 5 minutes before the retry time was over.
        claimed = delivery.give_up_at - timedelta(minutes=5)
        Delivery.objects.filter(pk=delivery.pk).update(
            state="sending", attempts=7, claimed_at=claimed
        )
        later = claimed + STALE_CLAIM + timedelta(seconds=1)  # stale, and past give_up_at
        assert deliveries_due(now=later) == []
        assert delivery_attempt(delivery_id=delivery.pk, now=later) is None
    assert inbox.requests == []
    stored = Delivery.objects.get()
    assert (stored.state, stored.attempts, stored.next_attempt_at) == ("failed", 7, None)
    assert stored.last_error.startswith("Gave up: the last attempt never finished")


def test_the_beat_fails_stale_claims_past_their_retry_time_and_requeues_the_others():
    endpoint("http://127.0.0.1:9/hooks")
    expired = recorded()
    event_record(event_type="invoice.paid", key="invoice.paid:1", data=dict)
    alive = Delivery.objects.exclude(pk=expired.pk).get()
    now = expired.give_up_at + timedelta(minutes=1)
    Delivery.objects.filter(pk=expired.pk).update(
        state="sending", claimed_at=expired.give_up_at - timedelta(minutes=20)
    )
    Delivery.objects.filter(pk=alive.pk).update(
        state="sending",
        claimed_at=now - timedelta(minutes=11),
        give_up_at=now + timedelta(hours=1),
    )
    with (
        mock.patch.object(deliver_webhook, "delay") as queued,
        mock.patch("webhooks.tasks.timezone.now", return_value=now),
    ):
        assert requeue_webhook_deliveries() == 1
    queued.assert_called_once_with(alive.pk)
    assert Delivery.objects.get(pk=expired.pk).state == "failed"
    assert Delivery.objects.get(pk=alive.pk).state == "sending"  # its worker will claim it


@pytest.mark.parametrize(
    ("head", "drip"),
    [
        (b"", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),  # the status line drips
        (b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n", b"x" * 30),  # the body drips
    ],
    ids=["headers", "body"],
)
def test_a_dripping_receiver_is_cut_at_the_total_timeout(settings, head, drip):
    """A byte every 0.15 s never trips a per-read timeout of 1 s; the whole answer would
    take 4.5 s or more. The attempt ends after 1 s, as a timeout."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    with dripping_receiver(head=head, drip=drip) as url:
        endpoint(url)
        delivery = delivery_attempt(delivery_id=recorded().pk)
    attempt = Attempt.objects.get()
    assert attempt.status_code is None and not attempt.succeeded
    assert attempt.error.startswith("Timeout: no answer within 1 s")
    assert 900 <= attempt.duration_ms < 2500
    assert delivery.state == "retrying"
