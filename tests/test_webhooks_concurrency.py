"""Two workers run the same due delivery at once (PostgreSQL, two connections): the
conditional UPDATE lets one claim it, so the receiver gets exactly one POST; and the
same fact recorded by two workers at once makes one event."""

import threading

import pytest
from django.db import connection

from tests.webhook_helpers import endpoint, receiver
from webhooks.delivery import delivery_attempt
from webhooks.events import event_record
from webhooks.models import Attempt, Delivery, Event


def in_threads(target, n=2):
    start = threading.Barrier(n)
    results, errors = [], []

    def run():
        try:
            start.wait()
            results.append(target())
        except Exception as exc:  # reported below, never swallowed
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_one_delivery_send_once(on_postgres):
    with receiver() as (url, inbox):
        endpoint(url)
        event_record(event_type="invoice.issued", key="invoice.issued:1", data=dict)
        delivery = Delivery.objects.get()
        results, errors = in_threads(lambda: delivery_attempt(delivery_id=delivery.pk))
    assert errors == []
    assert len(inbox.requests) == 1
    assert sorted(r is None for r in results) == [False, True]  # one sent, one stood aside
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 1)
    assert Attempt.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_recording_one_fact_make_one_event(on_postgres):
    endpoint("http://127.0.0.1:9/hooks")
    results, errors = in_threads(
        lambda: event_record(event_type="invoice.paid", key="invoice.paid:7", data=dict), n=4
    )
    assert errors == []
    assert Event.objects.count() == 1 and Delivery.objects.count() == 1
    assert sum(r is not None for r in results) == 1
