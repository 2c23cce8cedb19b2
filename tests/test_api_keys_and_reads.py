"""API keys: hashed, shown once, both header schemes, per-agent scope; agent keys
cannot read; staff read with session or token, filtered, cursor-paginated."""

import io
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.utils import timezone

from agents.models import AgentAPIKey, Signal, StaffAPIKey
from tests import factories as f
from tests.api_helpers import agent_key, post

pytestmark = pytest.mark.django_db

SIGNAL = {"event_name": "done", "customer_id": "cus_1"}


def test_key_is_hashed_at_rest_and_both_schemes_work(client):
    agent = f.AgentFactory()
    key = agent_key(agent)
    stored = AgentAPIKey.objects.get()
    assert key.split(".")[0] == stored.prefix and key not in stored.hashed_key
    assert post(client, "/api/v1/signals", SIGNAL, key, scheme="Api-Key").status_code == 201
    assert post(client, "/api/v1/signals", SIGNAL, key, scheme="Bearer").status_code == 201


def test_create_agent_key_command_prints_a_working_key_once(client):
    f.AgentFactory(external_id="doc-bot")
    out, err = io.StringIO(), io.StringIO()
    call_command("create_agent_key", "doc-bot", "--expires-in-days", "30", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert "shown once" in err.getvalue()
    stored = AgentAPIKey.objects.get()
    assert stored.agent.external_id == "doc-bot"
    assert stored.expiry_date > timezone.now() + timedelta(days=29)
    assert post(client, "/api/v1/signals", SIGNAL, key).status_code == 201


def test_create_agent_key_unknown_agent():
    with pytest.raises(CommandError, match="No agent 'ghost'"):
        call_command("create_agent_key", "ghost")


def test_revoking_a_key_stops_it_within_the_cache_time(client, settings, monkeypatch):
    settings.API_KEY_CACHE_SECONDS = 5
    agent = f.AgentFactory()
    key = agent_key(agent)
    assert post(client, "/api/v1/signals", SIGNAL, key).status_code == 201
    AgentAPIKey.objects.update(revoked=True)
    clock = time.monotonic() + 6
    monkeypatch.setattr(time, "monotonic", lambda: clock)
    response = post(client, "/api/v1/signals", SIGNAL, key)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_agent_keys_cannot_read(client):
    key = agent_key(f.AgentFactory())
    for url in ["/api/v1/signals", "/api/v1/costs", "/api/v1/agents", "/api/v1/customers"]:
        response = client.get(url, HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert response.status_code in (401, 403), url


@pytest.fixture
def staff_token():
    # Reading needs the model's view permission, as in the admin (test_api_permissions.py).
    user = User.objects.create_user("staff", password="x-123456-y", is_staff=True)
    user.groups.add(Group.objects.get(name="Viewers"))
    return StaffAPIKey.objects.create_key(name="staff", user=user)[1]


def test_staff_reads_with_token_filters_and_cursor(client, staff_token):
    agent = f.AgentFactory(external_id="a1")
    customer = f.CustomerFactory(external_id="c1")
    for i in range(5):
        f.SignalFactory(agent=agent, customer=customer, event_name="done", data={"i": i})
    f.SignalFactory(agent=agent, customer=None, external_customer_id="c-later", event_name="x")
    auth = {"HTTP_AUTHORIZATION": f"Token {staff_token}"}
    page = client.get("/api/v1/signals", {"page_size": 2, "event": "done"}, **auth).json()
    assert len(page["results"]) == 2 and page["next"] and "cursor=" in page["next"]
    second = client.get(page["next"], **auth).json()
    assert {r["id"] for r in second["results"]}.isdisjoint({r["id"] for r in page["results"]})
    unattributed = client.get("/api/v1/signals", {"attributed": "false"}, **auth).json()
    assert [r["customer_id"] for r in unattributed["results"]] == ["c-later"]
    by_customer = client.get("/api/v1/signals", {"customer": "c1", "agent": "a1"}, **auth).json()
    assert len(by_customer["results"]) == 5
    customers = client.get("/api/v1/customers", **auth).json()
    assert customers["results"][0]["external_id"] == "c1"
    assert client.get("/api/v1/agents", **auth).status_code == 200


def test_time_range_filter(admin_client):
    now = timezone.now()
    f.SignalFactory(occurred_at=now - timedelta(days=3))
    recent = f.SignalFactory(occurred_at=now - timedelta(hours=1))
    after = (now - timedelta(days=1)).isoformat()
    response = admin_client.get("/api/v1/signals", {"occurred_after": after})
    assert [r["id"] for r in response.json()["results"]] == [recent.pk]
    assert Signal.objects.count() == 2


def test_throttled_per_key_with_retry_after(client, settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_KEY_THROTTLE_RATE = "2/minute"
    key, other = agent_key(f.AgentFactory()), agent_key(f.AgentFactory())
    codes = [post(client, "/api/v1/signals", SIGNAL, key).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    response = post(client, "/api/v1/signals", SIGNAL, key)
    assert int(response["Retry-After"]) > 0
    assert post(client, "/api/v1/signals", SIGNAL, other).status_code == 201  # per key


def test_openapi_schema_describes_every_endpoint(admin_client):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path, method in [
        ("/api/v1/signals", "post"),
        ("/api/v1/signals", "get"),
        ("/api/v1/signals/bulk", "post"),
        ("/api/v1/costs/bulk", "post"),
        ("/api/v1/costs", "get"),
        ("/api/v1/customers", "get"),
        ("/api/v1/agents", "get"),
        ("/api/v2/signals/bulk", "post"),
        ("/api/v2/costs/bulk", "post"),
    ]:
        assert method in paths[path], (path, method)
    single = paths["/api/v1/signals"]["post"]
    assert single["security"] == [{"AgentApiKey": []}]
    assert paths["/api/v1/signals"]["get"]["security"] != [{"AgentApiKey": []}]
    example = single["requestBody"]["content"]["application/json"]["examples"]
    assert any(e["value"].get("event_name") == "document_processed" for e in example.values())
    assert {"201", "200", "400"} <= set(single["responses"])
    assert admin_client.get("/api/docs/").status_code == 200
