"""Delivering events to a real local receiver: the signature checked by an independent
implementation, retries with backoff for a day, one attempt logged per POST, the receiver
deduplicating by id, disabling after a run of failures with one e-mail to Finance, and
replays with the same id and payload."""

import itertools
import json
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail

from billing.services import period_close
from tests.billing_helpers import World
from tests.webhook_helpers import endpoint, receiver, signature_valid, silent_socket
from webhooks.delivery import deliveries_due, delivery_attempt
from webhooks.endpoints import event_replay
from webhooks.events import event_record
from webhooks.models import Attempt, Delivery, Event
from webhooks.tasks import deliver_webhook

pytestmark = pytest.mark.django_db


def recorded(key="invoice.issued:1", event_type="invoice.issued"):
    return event_record(event_type=event_type, key=key, data=lambda: {"number": key})


def attempts_of(delivery):
    return [
        (a.number, a.status_code, a.succeeded)
        for a in Attempt.objects.filter(delivery=delivery).order_by("number")
    ]


def test_an_issued_invoice_arrives_signed_with_its_figures(django_capture_on_commit_callbacks):
    w = World(unit_price=D("34.70"))
    w.signals(3)
    with receiver() as (url, inbox):
        hook = endpoint(url, types=["invoice.issued"])
        with (
            mock.patch.object(deliver_webhook, "delay") as queued,
            django_capture_on_commit_callbacks(execute=True),
        ):
            invoice = period_close(period_id=w.period().pk)
        delivery = Delivery.objects.get()
        queued.assert_called_once_with(delivery.pk)  # queued after commit, not sent inline
        assert inbox.requests == []
        assert delivery_attempt(delivery_id=delivery.pk).state == "delivered"
    headers, body = inbox.requests[0]
    event = Event.objects.get(type="invoice.issued")
    assert headers["Content-Type"] == "application/json"
    assert headers["Webhook-Id"] == event.id and event.id.startswith("evt_")
    assert headers["User-Agent"].startswith("outcome-billing-webhooks/")
    assert signature_valid(hook.secret, headers["Webhook-Signature"], body)
    assert not signature_valid("whsec_other", headers["Webhook-Signature"], body)
    payload = json.loads(body)
    assert (payload["id"], payload["type"]) == (event.id, "invoice.issued")
    assert payload["created"] == int(event.created_at.timestamp())
    data = payload["data"]
    # 3 outcomes x 34.70 = 104.10, no tax: amounts as strings at the minor unit.
    assert (data["net"], data["tax"], data["total"], data["amount_due"]) == (
        "104.10",
        "0.00",
        "104.10",
        "104.10",
    )
    assert (data["number"], data["customer"], data["currency"]) == (
        invoice.number,
        w.customer.external_id,
        "USD",
    )
    assert data["period_start"].startswith("2026-01-01T00:00:00")
    assert "statement" not in body.decode()  # a bearer link is never sent
    hook.refresh_from_db()
    assert hook.failure_run == 0 and hook.last_success_at is not None


def test_500_then_200_arrives_twice_with_one_id_and_is_processed_once():
    with receiver(answers=(500, 200)) as (url, inbox):
        hook = endpoint(url)
        event = recorded()
        delivery = Delivery.objects.get(event=event, endpoint=hook)
        first = delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)
        assert first.state == "retrying"
        early = first.next_attempt_at - timedelta(seconds=1)
        assert delivery_attempt(delivery_id=delivery.pk, now=early) is None  # not due yet
        later = first.next_attempt_at
        assert delivery_attempt(delivery_id=delivery.pk, now=later).state == "delivered"
    assert [h["Webhook-Id"] for h, _ in inbox.requests] == [event.id, event.id]
    assert inbox.requests[0][1] == inbox.requests[1][1]  # the same bytes
    assert inbox.processed == [event.id]  # the receiver's dedupe by id
    assert attempts_of(delivery) == [(1, 500, False), (2, 200, True)]
    assert Attempt.objects.get(number=1).error == "HTTP 500"


def test_backoff_doubles_from_a_minute_to_an_hour_and_gives_up_after_a_day(settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 1000
    with receiver(answers=(503,)) as (url, inbox):
        endpoint(url)
        event = recorded()
        delivery = Delivery.objects.get()
        times = []
        now = delivery.next_attempt_at
        while True:
            delivery = delivery_attempt(delivery_id=delivery.pk, now=now)
            times.append(now)
            if delivery.state == "failed":
                break
            now = delivery.next_attempt_at
    gaps = [round((b - a).total_seconds() / 60) for a, b in itertools.pairwise(times)]
    # 1, 2, 4, ... 32 minutes, then hourly; the last attempt 1383 min after the event,
    # the next would be past 24 h (1440 min): 7 + 22 = 29 attempts.
    assert gaps == [1, 2, 4, 8, 16, 32] + [60] * 22
    assert len(inbox.requests) == 29 == delivery.attempts
    assert delivery.last_error.startswith("Gave up after 29 attempts: HTTP 503")
    assert times[-1] - event.created_at < timedelta(days=1)
    assert deliveries_due(now=times[-1] + timedelta(days=2)) == []


def finance_user(email="fin@example.com"):
    user = User.objects.create_user("fin", email=email, password="x-123456-y", is_staff=True)
    user.groups.add(Group.objects.get(name="Finance"))
    return user


def test_a_run_of_failures_disables_the_endpoint_with_one_email(settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    settings.FINANCE_EMAILS = ["finance@example.com"]
    finance_user()
    User.objects.create_user("inactive", email="gone@example.com", is_active=False).groups.add(
        Group.objects.get(name="Finance")
    )
    with receiver(answers=(500, 200, 500, 500, 500)) as (url, inbox):
        hook = endpoint(url, description="ERP")
        deliveries = [
            Delivery.objects.get(event=recorded(f"invoice.issued:{n}")) for n in range(1, 4)
        ]
        now = deliveries[-1].next_attempt_at
        delivery_attempt(delivery_id=deliveries[0].pk, now=now)  # 500: run 1
        delivery_attempt(delivery_id=deliveries[1].pk, now=now)  # 200: run back to 0
        hook.refresh_from_db()
        assert (hook.failure_run, hook.active) == (0, True)
        later = now + timedelta(minutes=5)
        for d in (deliveries[2], deliveries[0]):
            delivery_attempt(delivery_id=d.pk, now=later)  # runs 1, 2
        assert mail.outbox == []
        delivery_attempt(delivery_id=deliveries[2].pk, now=later + timedelta(minutes=5))  # 3
        hook.refresh_from_db()
        assert not hook.active and hook.disabled_at is not None
        assert hook.failure_run == 3
        assert "3 failed attempts in a row" in hook.disabled_reason
        sent = len(inbox.requests)
        # Nothing more is sent; waiting deliveries are failed; one e-mail only.
        assert (
            delivery_attempt(delivery_id=deliveries[0].pk, now=later + timedelta(hours=1)) is None
        )
        assert len(inbox.requests) == sent == 5
    assert Delivery.objects.get(pk=deliveries[0].pk).state == "failed"
    assert "disabled" in Delivery.objects.get(pk=deliveries[0].pk).last_error
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["fin@example.com", "finance@example.com"]
    assert url in message.subject and "ERP" in message.body
    assert "3 failed attempts in a row" in message.body and "HTTP 500" in message.body
    assert "Re-enable the selected endpoints" in message.body
    assert f"/admin/webhooks/endpoint/{hook.pk}/change/" in message.body


def test_replay_sends_the_same_id_and_payload_with_a_new_signature_time():
    with receiver() as (url, inbox):
        hook = endpoint(url)
        event = recorded()
        original = Delivery.objects.get()
        delivery_attempt(delivery_id=original.pk)
        with mock.patch("webhooks.delivery.time.time", return_value=2_000_000_000):
            replay = event_replay(event_id=event.id, endpoint_id=hook.pk)
            assert event_replay(event_id=event.id, endpoint_id=hook.pk) == replay  # waiting
            assert delivery_attempt(delivery_id=replay.pk).state == "delivered"
    (h1, b1), (h2, b2) = inbox.requests
    assert h1["Webhook-Id"] == h2["Webhook-Id"] == event.id and b1 == b2
    assert h2["Webhook-Signature"].startswith("t=2000000000,v1=")
    assert signature_valid(hook.secret, h2["Webhook-Signature"], b2)
    assert inbox.processed == [event.id]
    assert Delivery.objects.filter(replay=True).count() == 1


def test_a_receiver_that_never_answers_is_logged_as_a_timeout_and_retried(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    with silent_socket() as url:
        hook = endpoint(url)
        event = recorded()
        delivery = delivery_attempt(delivery_id=Delivery.objects.get().pk)
    assert delivery.state == "retrying" and delivery.attempts == 1
    attempt = Attempt.objects.get()
    assert attempt.status_code is None and not attempt.succeeded
    assert attempt.error.startswith("Timeout: no answer within 0.5 s")
    assert 400 <= attempt.duration_ms < 5000
    hook.refresh_from_db()
    assert (hook.failure_run, hook.active) == (1, True)
    event.refresh_from_db()
    assert event.payload["data"] == {"number": "invoice.issued:1"}  # nothing else changed
    assert Event.objects.count() == 1 and Delivery.objects.count() == 1


def test_a_redirect_is_not_followed_and_a_long_answer_is_cut():
    with receiver(answers=(302,), body=b"x" * 10_000) as (url, inbox):
        endpoint(url)
        recorded()
        delivery = delivery_attempt(delivery_id=Delivery.objects.get().pk)
    assert delivery.state == "retrying" and len(inbox.requests) == 1
    attempt = Attempt.objects.get()
    assert attempt.error == "HTTP 302 (redirects are not followed)"
    assert attempt.response_excerpt == "x" * 2048


def test_the_beat_requeues_what_is_due_and_what_a_dead_worker_left():
    with receiver(answers=(500,)) as (url, _):
        endpoint(url)
        paused = endpoint(url, active=False)
        fresh, retrying, stale = (recorded(f"invoice.issued:{n}") for n in range(3))
        retrying = Delivery.objects.get(event=retrying)
        now = retrying.next_attempt_at
        delivery_attempt(delivery_id=retrying.pk, now=now)
        stale = Delivery.objects.get(event=stale)
        Delivery.objects.filter(pk=stale.pk).update(state="sending", claimed_at=now)
    fresh = Delivery.objects.get(event=fresh)
    assert not Delivery.objects.filter(endpoint=paused).exists()  # inactive: no delivery
    assert deliveries_due(now=now) == []  # fresh pending: its own task has it
    due = deliveries_due(now=now + timedelta(minutes=11))
    assert sorted(due) == sorted([fresh.pk, retrying.pk, stale.pk])
    with mock.patch.object(deliver_webhook, "delay") as queued:
        from webhooks.tasks import requeue_webhook_deliveries

        with mock.patch("webhooks.tasks.timezone.now", return_value=now + timedelta(minutes=11)):
            assert requeue_webhook_deliveries() == 3
    assert sorted(c.args[0] for c in queued.call_args_list) == sorted(due)


def readme_verifier():
    """The README's signature check, run as written."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Verifying webhook signatures", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(code, namespace)
    return namespace["webhook_verified"]


def test_the_readme_snippet_verifies_a_real_delivery_and_refuses_tampering():
    verified = readme_verifier()
    with receiver() as (url, inbox):
        hook = endpoint(url)
        recorded()
        delivery_attempt(delivery_id=Delivery.objects.get().pk)
    headers, body = inbox.requests[0]
    header = headers["Webhook-Signature"]
    assert verified(hook.secret, header, body)
    assert not verified(hook.secret, header, body.replace(b"invoice", b"invoicE"))
    assert not verified("whsec_wrong", header, body)
    assert not verified(hook.secret, "garbage", body)
    signed_at = int(header.split(",")[0][2:])
    with mock.patch("time.time", return_value=signed_at + 301):
        assert not verified(hook.secret, header, body)  # too old: a captured request
