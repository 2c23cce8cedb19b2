"""Permanent errors are never answered as transient: a bad item fails alone, a value the
database refuses is a 4xx (never 503 "retry"), a bad read filter is a 400."""

import json
from unittest import mock

import pytest

from agents.api import field_checks
from agents.models import Signal
from tests import factories as f
from tests.api_helpers import agent_key, post

pytestmark = pytest.mark.django_db
GOOD = {"event_name": "done", "customer_id": "cus_1", "idempotency_key": "good"}


@pytest.fixture
def key():
    return agent_key(f.AgentFactory(external_id="agent_1"))


def test_one_bad_item_does_not_sink_its_neighbours(client, key):
    bad = {**GOOD, "idempotency_key": "k\x00"}
    response = post(client, "/api/v1/signals/bulk", {"signals": [GOOD, bad]}, key)
    assert response.status_code == 200 and "Retry-After" not in response
    body = response.json()
    assert (body["ingested"], body["failed"]) == (1, 1)
    assert body["errors"] == [{"index": 1, "errors": {"idempotency_key": [mock.ANY]}}]
    assert list(Signal.objects.values_list("idempotency_key", flat=True)) == ["good"]


def test_a_value_the_database_refuses_fails_its_item_alone(client, key, on_postgres):
    # Should validation ever let through what PostgreSQL refuses (a NUL here), the
    # batch is stored item by item: the neighbours land, the item is named, no 503.
    bad = {**GOOD, "idempotency_key": "k\x00"}
    with mock.patch.object(field_checks, "text_problem", return_value=None):
        response = post(client, "/api/v1/signals/bulk", {"signals": [GOOD, bad]}, key)
    assert response.status_code == 200 and "Retry-After" not in response
    body = response.json()
    assert (body["ingested"], body["failed"]) == (1, 1)
    assert "Refused by the database" in json.dumps(body["errors"][0])
    assert list(Signal.objects.values_list("idempotency_key", flat=True)) == ["good"]


def test_a_single_item_the_database_refuses_is_a_400(client, key, on_postgres):
    with mock.patch.object(field_checks, "text_problem", return_value=None):
        response = post(client, "/api/v1/signals", {**GOOD, "idempotency_key": "k\x00"}, key)
    assert response.status_code == 400 and "Retry-After" not in response
    assert not Signal.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/signals?occurred_after=2026-01-01T00:00:00%2B21:59",
        "/api/v1/signals?occurred_before=0001-01-01T00:30:00%2B01:00",
        "/api/v1/invoices?period_from=2026-01-01T00:00:00-20:00",
        "/api/v1/invoices?offset=1304227105072001559507343769",
        "/api/v1/margins?offset=99999999999999999999",
    ],
)
def test_a_bad_read_filter_is_a_400(admin_client, query):
    response = admin_client.get(query)
    assert response.status_code == 400, response.content


def test_a_huge_limit_is_capped_not_an_error(admin_client):
    response = admin_client.get("/api/v1/invoices?limit=1304227105072001559507343769")
    assert response.status_code == 200 and response.json()["results"] == []
