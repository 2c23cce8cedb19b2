"""On PostgreSQL, with real concurrency: the same export sent by 10 clients at once
stores each span once (the unique trace id + span id), and a signal and its spans that
arrive at the same moment end up linked, at the latest when the period closes."""

import json
import threading
from decimal import Decimal as D

import httpx
import pytest

from agents.models import Cost, Signal
from billing.models import MarginFigure
from billing.services import period_close
from tests.api_helpers import agent_key
from tests.billing_helpers import World
from tests.otlp_helpers import JAN, export, llm, span

pytestmark = pytest.mark.django_db(transaction=True)


def at_once(calls):
    barrier = threading.Barrier(len(calls))
    codes = []

    def run(call):
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            codes.append(call(client))

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


@pytest.fixture
def world():
    w = World(unit_price=D("2.00"))
    w.customer.external_id = "cus_42"
    w.customer.save()
    w.key = agent_key(w.agent)
    return w


def test_one_export_sent_ten_times_at_once_stores_each_span_once(on_postgres, live_server, world):
    body = json.dumps(export(*[span(llm(paid_scope_id=i)) for i in range(50)]))

    def send(client):
        return client.post(
            f"{live_server.url}/v1/traces",
            content=body,
            headers={"Authorization": f"Bearer {world.key}", "Content-Type": "application/json"},
        ).status_code

    assert at_once([send] * 10) == [200] * 10
    assert Cost.objects.count() == 50


def test_a_signal_and_its_spans_at_the_same_moment_are_linked(on_postgres, live_server, world):
    headers = {"Authorization": f"Bearer {world.key}"}
    for attempt in range(5):
        scope = 1000 + attempt
        body = json.dumps(export(*[span(llm(paid_scope_id=scope)) for _ in range(3)]))
        signal_body = {
            "event_name": "done",
            "customer_id": "cus_42",
            "occurred_at": JAN.isoformat(),
            "idempotency_key": f"s-{attempt}",
            "data": {"status": "ok", "paid": {"paid_scope_id": scope}},
        }

        def spans(client, body=body):
            return client.post(
                f"{live_server.url}/v1/traces",
                content=body,
                headers={**headers, "Content-Type": "application/json"},
            ).status_code

        def signal(client, signal_body=signal_body):
            return client.post(
                f"{live_server.url}/api/v1/signals", json=signal_body, headers=headers
            ).status_code

        assert sorted(at_once([spans, signal])) == [200, 201]
    period_close(period_id=world.period().pk)
    assert not Cost.objects.filter(signal__isnull=True).exists()
    for outcome in Signal.objects.all():
        assert outcome.costs.count() == 3
    figure = MarginFigure.objects.get(period=world.period())
    assert figure.successes == 5 and figure.cost == 15 * D("0.0045")


def test_an_export_into_a_never_analysed_cost_table_analyses_it_once(
    on_postgres, client, world, monkeypatch
):
    from django.db import connection

    from config import db

    monkeypatch.setattr(db, "ANALYSE_FROM_BYTES", 0)  # the test's table is small
    monkeypatch.setattr(db, "_analysed", set())
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'agents_cost'")
        assert cursor.fetchone()[0] < 0  # never analysed
    for _ in range(2):  # the first export finds the table empty, the second holding data
        response = client.post(
            "/v1/traces",
            data=json.dumps(export(span(llm()))),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {world.key}",
        )
        assert response.status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'agents_cost'")
        assert cursor.fetchone()[0] >= 0
    assert "agents_cost" in db._analysed
