"""Reliability of ingestion: concurrent replays store one signal (PostgreSQL), and a
batch interrupted by a database error stores all of its valid items or none."""

import threading
from unittest import mock

import httpx
import pytest
from django.db import DatabaseError

from agents.models import Cost, Signal
from tests import factories as f
from tests.api_helpers import agent_key, post


@pytest.mark.django_db(transaction=True)
def test_20_concurrent_requests_with_one_key_store_one_signal(on_postgres, live_server):
    f.AgentFactory(external_id="agent_1")
    key = agent_key()
    payload = {
        "agent_id": "agent_1",
        "event_name": "done",
        "customer_id": "cus_1",
        "idempotency_key": "same",
        "data": {"llm_cost": 0.01},
    }
    barrier = threading.Barrier(20)
    codes: list[int] = []

    def send():
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            response = client.post(
                f"{live_server.url}/api/v1/signals",
                json=payload,
                headers={"Authorization": f"Bearer {key}"},
            )
            codes.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 19 + [201]
    assert Signal.objects.count() == 1 and Cost.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_bulk_interrupted_by_a_database_error_stores_nothing_then_retry_stores_all(client):
    agent = f.AgentFactory(external_id="agent_1")
    key = agent_key(agent)
    batch = {
        "signals": [
            {
                "event_name": "done",
                "customer_id": "c",
                "idempotency_key": f"k{i}",
                "data": {"llm_cost": 0.01},
            }
            for i in range(50)
        ]
    }
    with mock.patch.object(Cost.objects, "bulk_create", side_effect=DatabaseError("disk full")):
        response = post(client, "/api/v1/signals/bulk", batch, key)
    assert response.status_code == 503 and "nothing was stored" in response.json()["detail"]
    assert Signal.objects.count() == 0 and Cost.objects.count() == 0
    retry = post(client, "/api/v1/signals/bulk", batch, key)
    assert retry.json()["ingested"] == 50
    assert Signal.objects.count() == 50 and Cost.objects.count() == 50
