"""Agents post signals: the seed payload works as given, replays store nothing,
batches store their valid items, and nothing well-formed is lost."""

from decimal import Decimal

import pytest

from agents.models import Cost, Signal
from agents.tasks import attach_unattributed_signals
from tests import factories as f
from tests.api_helpers import agent_key, post

pytestmark = pytest.mark.django_db

SEED = {
    "agent_id": "agent_1",
    "event_name": "document_processed",
    "customer_id": "cus_42",
    "data": {
        "llm_tokens": 15000,
        "llm_cost": 0.045,
        "infrastructure_cost": 0.023,
        "processing_time": 45.2,
    },
}


@pytest.fixture
def agent():
    return f.AgentFactory(external_id="agent_1")


def test_seed_payload_records_signal_and_two_costs(client, agent):
    customer = f.CustomerFactory(external_id="cus_42")
    response = post(client, "/api/v1/signals", SEED, agent_key())
    assert response.status_code == 201
    body = response.json()
    assert body["attributed"] is True and body["customer_id"] == "cus_42"
    signal = Signal.objects.get(pk=body["id"])
    assert signal.customer == customer and signal.agent == agent
    assert signal.data["llm_tokens"] == 15000 and signal.data["processing_time"] == 45.2
    costs = {c.category: c for c in Cost.objects.filter(signal=signal)}
    assert set(costs) == {"llm", "infrastructure"}
    assert costs["llm"].amount == Decimal("0.045") and costs["llm"].currency == "USD"
    assert costs["infrastructure"].amount == Decimal("0.023")
    assert {c["amount"] for c in body["costs"]} == {"0.04500000", "0.02300000"}


def test_cost_currency_from_data(client, agent):
    payload = {
        **SEED,
        "data": {"llm_cost": "0.5", "tool_cost": 1, "gpu_cost": 2, "currency": "eur"},
    }
    response = post(client, "/api/v1/signals", payload, agent_key(agent))
    assert response.status_code == 201
    costs = Cost.objects.order_by("source_key")
    assert [(c.source_key, c.category, c.currency) for c in costs] == [
        ("gpu_cost", "other", "EUR"),
        ("llm_cost", "llm", "EUR"),
        ("tool_cost", "tool", "EUR"),
    ]


def test_replay_returns_original_and_stores_nothing(client, agent):
    key = agent_key(agent)
    payload = {**SEED, "idempotency_key": "doc-1"}
    first = post(client, "/api/v1/signals", payload, key)
    second = post(client, "/api/v1/signals", {**payload, "event_name": "changed"}, key)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["event_name"] == "document_processed"
    assert Signal.objects.count() == 1 and Cost.objects.count() == 2


def test_timestamp_alias_and_default(client, agent):
    key = agent_key(agent)
    r1 = post(client, "/api/v1/signals", {**SEED, "timestamp": "2026-01-31T23:00:00Z"}, key)
    assert r1.json()["occurred_at"] == "2026-01-31T23:00:00Z"
    r2 = post(client, "/api/v1/signals", {**SEED, "occurred_at": "2026-02-01T01:00:00+02:00"}, key)
    assert r2.json()["occurred_at"] == "2026-01-31T23:00:00Z"
    r3 = post(client, "/api/v1/signals", SEED, key)
    assert r3.json()["occurred_at"] == r3.json()["received_at"]


def test_agent_id_optional_for_an_agents_own_key(client, agent):
    payload = {k: v for k, v in SEED.items() if k != "agent_id"}
    response = post(client, "/api/v1/signals", payload, agent_key(agent))
    assert response.status_code == 201 and response.json()["agent_id"] == "agent_1"


def test_bulk_stores_valid_items_and_reports_each_failure(client, agent):
    key = agent_key(agent)
    post(client, "/api/v1/signals", {**SEED, "idempotency_key": "old"}, key)
    batch = [
        {**SEED, "idempotency_key": "a"},
        {**SEED, "event_name": ""},
        {**SEED, "idempotency_key": "old"},  # replay of an earlier request
        {**SEED, "idempotency_key": "a"},  # repeated within the batch
        {**SEED, "data": {"llm_cost": -1}},
        {**SEED},
    ]
    response = post(client, "/api/v1/signals/bulk", {"signals": batch}, key)
    assert response.status_code == 200
    body = response.json()
    assert (body["ingested"], body["duplicates"], body["failed"]) == (2, 2, 2)
    assert [e["index"] for e in body["errors"]] == [1, 4]
    assert "event_name" in body["errors"][0]["errors"]
    assert "data.llm_cost" in body["errors"][1]["errors"]
    assert Signal.objects.count() == 3


def test_unknown_customer_kept_then_attached_on_creation(client, agent):
    key = agent_key(agent)
    response = post(client, "/api/v1/signals", {**SEED, "customer_id": "cus_later"}, key)
    assert response.status_code == 201 and response.json()["attributed"] is False
    signal = Signal.objects.get()
    assert signal.customer is None and signal.external_customer_id == "cus_later"
    customer = f.CustomerFactory(external_id="cus_later")
    signal.refresh_from_db()
    assert signal.customer == customer
    assert set(Cost.objects.values_list("customer_id", flat=True)) == {customer.pk}


def test_periodic_task_attaches_what_the_save_hook_missed(client, agent):
    post(client, "/api/v1/signals", {**SEED, "customer_id": "cus_bulk"}, agent_key(agent))
    # a customer created without model signals (e.g. a bulk load)
    from customers.models import Customer

    Customer.objects.bulk_create(
        [Customer(external_id="cus_bulk", name="Bulk", billing_email="b@example.com")]
    )
    assert Signal.objects.get().customer_id is None
    assert attach_unattributed_signals() == 1
    assert Signal.objects.get().customer.external_id == "cus_bulk"
    assert attach_unattributed_signals() == 0


def test_llm_cost_in_data_is_attributed_to_the_model_the_data_names(client, agent):
    payload = {**SEED, "data": {**SEED["data"], "model": "gpt-4o", "vendor": "openai"}}
    post(client, "/api/v1/signals", payload, agent_key(agent))
    llm = Cost.objects.get(category="llm")
    infra = Cost.objects.get(category="infrastructure")
    assert (llm.vendor, llm.model) == ("openai", "gpt-4o")
    assert (infra.vendor, infra.model) == ("", "")
