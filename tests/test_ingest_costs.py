"""Standalone costs: an amount in a currency, or token usage priced from the catalogue."""

from decimal import Decimal

import pytest

from agents.models import Cost
from tests import factories as f
from tests.api_helpers import agent_key, post

pytestmark = pytest.mark.django_db


def test_amount_and_catalogue_priced_usage_linked_to_signal(client):
    agent = f.AgentFactory(external_id="a1")
    customer = f.CustomerFactory(external_id="c1")
    key = agent_key(agent)
    post(
        client,
        "/api/v1/signals",
        {
            "event_name": "done",
            "customer_id": "c1",
            "idempotency_key": "sig-1",
            "workflow_id": "wf-9",
        },
        key,
    )
    body = {
        "costs": [
            {
                "customer_id": "c1",
                "amount": "0.12",
                "currency": "EUR",
                "category": "tool",
                "idempotency_key": "c-1",
            },
            {
                "vendor": "openai",
                "model": "gpt-4o",
                "input_tokens": 1000,
                "output_tokens": 500,
                "signal_idempotency_key": "sig-1",
            },
        ]
    }
    response = post(client, "/api/v1/costs/bulk", body, key)
    assert response.json() == {"ingested": 2, "duplicates": 0, "failed": 0, "errors": []}
    tool = Cost.objects.get(category="tool")
    assert (tool.amount, tool.currency, tool.customer) == (Decimal("0.12"), "EUR", customer)
    llm = Cost.objects.get(category="llm")
    # gpt-4o: $2.50 / M input, $10 / M output -> 0.0025 + 0.005
    assert llm.amount == Decimal("0.0075") and llm.priced_from_catalogue
    assert llm.signal.idempotency_key == "sig-1"
    assert (llm.workflow_id, llm.customer) == ("wf-9", customer)
    replay = post(client, "/api/v1/costs/bulk", {"costs": body["costs"][:1]}, key)
    assert replay.json()["duplicates"] == 1 and Cost.objects.count() == 2
