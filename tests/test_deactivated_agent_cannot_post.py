"""A deactivated agent's own key posts nothing (403, on every ingest endpoint), within
API_KEY_CACHE_SECONDS of the deactivation, as revoking; an organisation key naming an
inactive agent is refused per item, and the other items of its batch still land."""

import time

import pytest

from agents.models import Agent, Cost, Signal
from tests import factories as f
from tests.api_helpers import agent_key, post

pytestmark = pytest.mark.django_db

CUSTOMER = {"externalCustomerId": "cus_1"}
PRODUCT = {"externalProductId": "agent_1"}
V1_SIGNAL = {"event_name": "done", "customer_id": "cus_1"}
V1_COST = {"customer_id": "cus_1", "amount": "0.5", "currency": "USD", "category": "tool"}
V2_SIGNAL = {"eventName": "done", "customer": CUSTOMER, "attribution": PRODUCT}
V2_COST = {"type": "cost", "customer": CUSTOMER, "product": PRODUCT, "amount": 1, "currency": "USD"}

# url, body: one of each ingest endpoint, valid for an active agent_1.
POSTS = [
    ("/api/v1/signals", V1_SIGNAL),
    ("/api/v1/signals/bulk", {"signals": [V1_SIGNAL]}),
    ("/api/v1/costs/bulk", {"costs": [V1_COST]}),
    ("/api/v2/signals/bulk", {"signals": [V2_SIGNAL]}),
    ("/api/v2/costs/bulk", {"costs": [V2_COST]}),
]


def stored() -> int:
    return Signal.objects.count() + Cost.objects.count()


@pytest.mark.parametrize(("url", "body"), POSTS, ids=[url for url, _ in POSTS])
def test_deactivated_agents_own_key_is_refused_and_nothing_stored(client, url, body):
    agent = f.AgentFactory(external_id="agent_1", active=False)
    response = post(client, url, body, agent_key(agent))
    assert response.status_code == 403
    assert "'agent_1' is deactivated" in response.json()["detail"]
    assert stored() == 0


@pytest.mark.parametrize(("url", "body"), POSTS, ids=[url for url, _ in POSTS])
def test_the_same_key_posts_again_once_the_agent_is_reactivated(client, settings, url, body):
    settings.API_KEY_CACHE_SECONDS = 0  # the key's agent is read again on every request
    agent = f.AgentFactory(external_id="agent_1", active=False)
    key = agent_key(agent)
    assert post(client, url, body, key).status_code == 403
    Agent.objects.filter(pk=agent.pk).update(active=True)
    assert post(client, url, body, key).status_code in (200, 201)
    assert stored() == 1


def test_deactivating_stops_the_key_within_the_cache_time(client, settings, monkeypatch):
    settings.API_KEY_CACHE_SECONDS = 5
    agent = f.AgentFactory(external_id="agent_1")
    key = agent_key(agent)
    assert post(client, "/api/v1/signals", V1_SIGNAL, key).status_code == 201
    Agent.objects.filter(pk=agent.pk).update(active=False)
    clock = time.monotonic() + 6
    monkeypatch.setattr(time, "monotonic", lambda: clock)
    response = post(client, "/api/v1/signals/bulk", {"signals": [V1_SIGNAL]}, key)
    assert response.status_code == 403 and "deactivated" in response.json()["detail"]
    assert Signal.objects.count() == 1


def test_organisation_key_cannot_post_as_an_inactive_agent(client):
    f.AgentFactory(external_id="agent_1", active=False)
    f.AgentFactory(external_id="agent_2")
    key = agent_key(None)
    single = post(client, "/api/v1/signals", V1_SIGNAL | {"agent_id": "agent_1"}, key)
    assert single.status_code == 400
    assert "inactive" in single.json()["errors"]["agent_id"][0]

    v1_batch = [V1_SIGNAL | {"agent_id": "agent_1"}, V1_SIGNAL | {"agent_id": "agent_2"}]
    v1 = post(client, "/api/v1/signals/bulk", {"signals": v1_batch}, key).json()
    assert (v1["ingested"], v1["failed"], v1["errors"][0]["index"]) == (1, 1, 0)

    costs = [V1_COST | {"agent_id": "agent_1"}, V1_COST | {"agent_id": "agent_2"}]
    v1_costs = post(client, "/api/v1/costs/bulk", {"costs": costs}, key).json()
    assert (v1_costs["ingested"], v1_costs["failed"], v1_costs["errors"][0]["index"]) == (1, 1, 0)

    v2_batch = [V2_SIGNAL, V2_SIGNAL | {"attribution": {"externalProductId": "agent_2"}}]
    v2 = post(client, "/api/v2/signals/bulk", {"signals": v2_batch}, key).json()
    assert (v2["ingested"], v2["failed"], v2["errors"][0]["index"]) == (1, 1, 0)

    # v2 costs are all or nothing, as Paid's API.
    v2_costs = post(client, "/api/v2/costs/bulk", {"costs": [V2_COST]}, key)
    assert v2_costs.status_code == 400 and v2_costs.json()["errors"][0]["index"] == 0

    assert set(Signal.objects.values_list("agent__external_id", flat=True)) == {"agent_2"}
    assert set(Cost.objects.values_list("agent__external_id", flat=True)) == {"agent_2"}
