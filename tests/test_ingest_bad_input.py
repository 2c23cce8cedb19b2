"""Bad input gets a 4xx naming the field and the problem, and stores nothing."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import AgentAPIKey, Cost, Signal
from tests import factories as f
from tests.api_helpers import agent_key

pytestmark = pytest.mark.django_db

GOOD = {"agent_id": "agent_1", "event_name": "done", "customer_id": "cus_1"}
SOON = (timezone.now() + timedelta(minutes=30)).isoformat()


def bulk(*items):
    return {"signals": list(items)}


# (case, url, body, key kind, status, text that must appear in the response)
CASES = [
    ("not json", "/api/v1/signals", "{oops", "org", 400, "JSON parse error"),
    ("json array body", "/api/v1/signals", [GOOD], "org", 400, "JSON object"),
    (
        "missing event_name",
        "/api/v1/signals",
        {**GOOD, "event_name": None},
        "org",
        400,
        "event_name",
    ),
    ("empty event_name", "/api/v1/signals", {**GOOD, "event_name": ""}, "org", 400, "event_name"),
    (
        "numeric event_name",
        "/api/v1/signals",
        {**GOOD, "event_name": 5},
        "org",
        400,
        "Must be a string",
    ),
    (
        "event_name too long",
        "/api/v1/signals",
        {**GOOD, "event_name": "x" * 201},
        "org",
        400,
        "At most 200",
    ),
    (
        "missing customer",
        "/api/v1/signals",
        {**GOOD, "customer_id": None},
        "org",
        400,
        "customer_id",
    ),
    (
        "data is a list",
        "/api/v1/signals",
        {**GOOD, "data": [1, 2]},
        "org",
        400,
        "Must be a JSON object",
    ),
    (
        "data is a string",
        "/api/v1/signals",
        {**GOOD, "data": "x"},
        "org",
        400,
        "Must be a JSON object",
    ),
    (
        "unparsable timestamp",
        "/api/v1/signals",
        {**GOOD, "occurred_at": "yesterday"},
        "org",
        400,
        "not an RFC 3339",
    ),
    (
        "timestamp alias unparsable",
        "/api/v1/signals",
        {**GOOD, "timestamp": "2026-13-01"},
        "org",
        400,
        "timestamp",
    ),
    (
        "timestamp without zone",
        "/api/v1/signals",
        {**GOOD, "occurred_at": "2026-01-01T10:00:00"},
        "org",
        400,
        "time zone",
    ),
    (
        "timestamp in the future",
        "/api/v1/signals",
        {**GOOD, "occurred_at": SOON},
        "org",
        400,
        "in the future",
    ),
    (
        "negative cost",
        "/api/v1/signals",
        {**GOOD, "data": {"llm_cost": -0.5}},
        "org",
        400,
        "cannot be negative",
    ),
    (
        "non-numeric cost",
        "/api/v1/signals",
        {**GOOD, "data": {"llm_cost": "cheap"}},
        "org",
        400,
        "must be a number",
    ),
    (
        "boolean cost",
        "/api/v1/signals",
        {**GOOD, "data": {"llm_cost": True}},
        "org",
        400,
        "must be a number",
    ),
    (
        "bad cost currency",
        "/api/v1/signals",
        {**GOOD, "data": {"llm_cost": 1, "currency": "XYZ"}},
        "org",
        400,
        "ISO 4217",
    ),
    (
        "unknown agent",
        "/api/v1/signals",
        {**GOOD, "agent_id": "ghost"},
        "org",
        400,
        "Unknown agent",
    ),
    (
        "org key without agent",
        "/api/v1/signals",
        {**GOOD, "agent_id": None},
        "org",
        400,
        "name one",
    ),
    (
        "key of another agent",
        "/api/v1/signals",
        {**GOOD, "agent_id": "agent_2"},
        "agent_1",
        400,
        "cannot post as",
    ),
    ("wrong key", "/api/v1/signals", GOOD, "wrong", 401, "Invalid API key"),
    ("no key", "/api/v1/signals", GOOD, None, 401, "credentials"),
    ("unknown auth scheme", "/api/v1/signals", GOOD, "basic", 401, "Api-Key <key>"),
    ("revoked key", "/api/v1/signals", GOOD, "revoked", 401, "revoked"),
    ("expired key", "/api/v1/signals", GOOD, "expired", 401, "expired"),
    ("bulk without list", "/api/v1/signals/bulk", {"signals": {}}, "org", 400, "with a list"),
    ("bulk empty", "/api/v1/signals/bulk", {"signals": []}, "org", 400, "empty"),
    ("bulk over 1,000", "/api/v1/signals/bulk", bulk(*[GOOD] * 1001), "org", 400, "At most 1,000"),
    (
        "bulk item not an object",
        "/api/v1/signals/bulk",
        bulk("x"),
        "org",
        200,
        "must be a JSON object",
    ),
    ("bulk item bad", "/api/v1/signals/bulk", bulk({**GOOD, "data": 3}), "org", 200, '"index": 0'),
    (
        "cost negative",
        "/api/v1/costs/bulk",
        {"costs": [{"agent_id": "agent_1", "amount": -1, "currency": "USD"}]},
        "org",
        200,
        "cannot be negative",
    ),
    (
        "cost non-numeric",
        "/api/v1/costs/bulk",
        {"costs": [{"agent_id": "agent_1", "amount": "a lot", "currency": "USD"}]},
        "org",
        200,
        "must be a number",
    ),
    (
        "cost without currency",
        "/api/v1/costs/bulk",
        {"costs": [{"agent_id": "agent_1", "amount": 1}]},
        "org",
        200,
        "currency",
    ),
    (
        "cost unknown model, no amount",
        "/api/v1/costs/bulk",
        {
            "costs": [
                {
                    "agent_id": "agent_1",
                    "vendor": "openai",
                    "model": "gpt-nonexistent",
                    "input_tokens": 10,
                }
            ]
        },
        "org",
        200,
        "Unable to find model",
    ),
    (
        "cost neither amount nor usage",
        "/api/v1/costs/bulk",
        {"costs": [{"agent_id": "agent_1"}]},
        "org",
        200,
        "Give an amount",
    ),
    (
        "cost bad category",
        "/api/v1/costs/bulk",
        {"costs": [{"agent_id": "agent_1", "amount": 1, "currency": "USD", "category": "food"}]},
        "org",
        200,
        "category",
    ),
    (
        "cost negative tokens",
        "/api/v1/costs/bulk",
        {
            "costs": [
                {"agent_id": "agent_1", "model": "gpt-4o", "vendor": "openai", "input_tokens": -5}
            ]
        },
        "org",
        200,
        "whole number",
    ),
    (
        "cost unknown signal",
        "/api/v1/costs/bulk",
        {
            "costs": [
                {
                    "agent_id": "agent_1",
                    "amount": 1,
                    "currency": "USD",
                    "signal_idempotency_key": "nope",
                }
            ]
        },
        "org",
        200,
        "Post the signal first",
    ),
    (
        "v2 missing customer",
        "/api/v2/signals/bulk",
        {"signals": [{"eventName": "done", "attribution": {"externalProductId": "agent_1"}}]},
        "org",
        200,
        "customer",
    ),
    (
        "v2 unknown product",
        "/api/v2/signals/bulk",
        {
            "signals": [
                {
                    "eventName": "done",
                    "customer": {"externalCustomerId": "c"},
                    "attribution": {"externalProductId": "ghost"},
                }
            ]
        },
        "org",
        200,
        "Unknown agent",
    ),
    (
        "v2 cost bad type",
        "/api/v2/costs/bulk",
        {
            "costs": [
                {
                    "type": "gift",
                    "customer": {"externalCustomerId": "c"},
                    "product": {"externalProductId": "agent_1"},
                }
            ]
        },
        "org",
        400,
        "type",
    ),
    (
        "v2 cost missing usage model",
        "/api/v2/costs/bulk",
        {
            "costs": [
                {
                    "type": "usage",
                    "customer": {"externalCustomerId": "c"},
                    "product": {"externalProductId": "agent_1"},
                    "vendor": "openai",
                    "usage": {"inputTokens": 5},
                }
            ]
        },
        "org",
        400,
        "model",
    ),
    # Found by fuzzing and a bad-input sweep: each refused by validation with a 4xx naming
    # the field, never a 503 "retry" or a 500.
    ("NUL in a key", "/api/v1/signals", {**GOOD, "idempotency_key": "k\x00"}, "org", 400, "NUL"),
    ("NUL in data", "/api/v1/signals", {**GOOD, "data": {"a": "x\x00"}}, "org", 400, "NUL"),
    ("NUL in a data key", "/api/v1/signals", {**GOOD, "data": {"a\x00": 1}}, "org", 400, "NUL"),
    (
        "lone surrogate in data",
        "/api/v1/signals",
        '{"agent_id": "agent_1", "event_name": "done", "customer_id": "c", '
        '"data": {"a": "\\ud800"}}',
        "org",
        400,
        "surrogate",
    ),
    (
        "lone surrogate in customer_id",
        "/api/v1/signals",
        '{"agent_id": "agent_1", "event_name": "done", "customer_id": "c\\udc00"}',
        "org",
        400,
        "surrogate",
    ),
    (
        "offset beyond 15:59",
        "/api/v1/signals",
        {**GOOD, "occurred_at": "2026-11-01T00:00:00-16:00"},
        "org",
        400,
        "15:59",
    ),
    (
        "year 1 with an offset",
        "/api/v1/signals",
        {**GOOD, "occurred_at": "0001-01-01T00:30:00+01:00"},
        "org",
        400,
        "earliest accepted",
    ),
    (
        "1970",
        "/api/v1/signals",
        {**GOOD, "occurred_at": "1970-01-01T00:00:00Z"},
        "org",
        400,
        "earliest accepted",
    ),
    (
        "1e999 in data",
        "/api/v1/signals",
        '{"agent_id": "agent_1", "event_name": "done", "customer_id": "c", "data": {"x": 1e999}}',
        "org",
        400,
        "finite",
    ),
    (
        "data nested 1,000 levels",
        "/api/v1/signals",
        '{"agent_id": "agent_1", "event_name": "done", "customer_id": "c", "data": '
        + '{"a": ' * 1000
        + "1"
        + "}" * 1000
        + "}",
        "org",
        400,
        "nested",
    ),
    (
        "data nested 40 levels",
        "/api/v1/signals",
        {**GOOD, "data": json.loads('{"a": ' * 40 + "1" + "}" * 40)},
        "org",
        400,
        "nested more than 32",
    ),
    ("blank customer_id", "/api/v1/signals", {**GOOD, "customer_id": "   "}, "org", 400, "blank"),
    ("blank event_name", "/api/v1/signals", {**GOOD, "event_name": " \t"}, "org", 400, "blank"),
    (
        "newline in event_name",
        "/api/v1/signals",
        {**GOOD, "event_name": "done\nnow"},
        "org",
        400,
        "control characters",
    ),
    (
        "zero-width space in customer_id",
        "/api/v1/signals",
        {**GOOD, "customer_id": "cus\u200b_1"},
        "org",
        400,
        "invisible",
    ),
    (
        "bidirectional mark in customer_id",
        "/api/v1/signals",
        {**GOOD, "customer_id": "\u202ecus_1"},
        "org",
        400,
        "invisible",
    ),
    (
        "unknown top-level fields",
        "/api/v1/signals",
        {**GOOD, "event_type": "x", "outcome": "ok", "cost_data": {"llm": 1}},
        "org",
        400,
        "send payload fields inside `data`",
    ),
    (
        "unknown field in a bulk body",
        "/api/v1/signals/bulk",
        {"signals": [GOOD], "dry_run": True},
        "org",
        400,
        "Unknown field(s) 'dry_run'",
    ),
    (
        "token count of 2^63",
        "/api/v1/costs/bulk",
        {"costs": [{"agent_id": "agent_1", "model": "gpt-4o", "input_tokens": 2**63}]},
        "org",
        200,
        "whole number of tokens",
    ),
    (
        "catalogue price of 1e12 or more",
        "/api/v1/costs/bulk",
        {
            "costs": [
                {
                    "agent_id": "agent_1",
                    "vendor": "openai",
                    "model": "gpt-4o",
                    "input_tokens": 2**62,
                }
            ]
        },
        "org",
        200,
        "prices above",
    ),
    (
        "v2 metadata.idempotencyKey over 200",
        "/api/v2/costs/bulk",
        {
            "costs": [
                {
                    "type": "cost",
                    "customer": {"externalCustomerId": "c"},
                    "amount": 1,
                    "currency": "USD",
                    "metadata": {"idempotencyKey": "k" * 201},
                }
            ]
        },
        "agent_1",
        400,
        "metadata.idempotencyKey",
    ),
    (
        "v2 metadata.workflowId over 200",
        "/api/v2/costs/bulk",
        {
            "costs": [
                {
                    "type": "cost",
                    "customer": {"externalCustomerId": "c"},
                    "amount": 1,
                    "currency": "USD",
                    "metadata": {"workflowId": "w" * 201},
                }
            ]
        },
        "agent_1",
        400,
        "metadata.workflowId",
    ),
    (
        "v2 superscript customerId",
        "/api/v2/signals/bulk",
        {"signals": [{"eventName": "done", "customer": {"customerId": "5\u00b9"}}]},
        "agent_1",
        200,
        "No customer has id",
    ),
    (
        "v2 superscript productId",
        "/api/v2/signals/bulk",
        {
            "signals": [
                {
                    "eventName": "done",
                    "customer": {"externalCustomerId": "c"},
                    "attribution": {"productId": "\u00b2"},
                }
            ]
        },
        "agent_1",
        200,
        "Unknown agent",
    ),
    (
        "v2 reasoning tokens 1e999",
        "/api/v2/costs/bulk",
        '{"costs": [{"type": "usage", "customer": {"externalCustomerId": "c"}, '
        '"vendor": "openai", "model": "gpt-4o", '
        '"usage": {"inputTokens": 10, "reasoningOutputTokens": 1e999}, '
        '"metadata": {"workflowId": "w\\u0000"}}]}',
        "agent_1",
        400,
        "NUL",
    ),
]


@pytest.fixture
def keys():
    agent_1 = f.AgentFactory(external_id="agent_1")
    f.AgentFactory(external_id="agent_2")
    revoked_obj, revoked = AgentAPIKey.objects.create_key(name="r", agent=agent_1)
    AgentAPIKey.objects.filter(pk=revoked_obj.pk).update(revoked=True)
    return {
        "org": agent_key(),
        "agent_1": agent_key(agent_1),
        "wrong": "abcdefgh.notthekey",
        "revoked": revoked,
        "expired": agent_key(agent_1, expiry_date=timezone.now() - timedelta(days=1)),
    }


@pytest.mark.parametrize(
    ("url", "body", "key", "code", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input(client, keys, url, body, key, code, text):
    headers = {}
    if key == "basic":
        headers["HTTP_AUTHORIZATION"] = "Basic dXNlcjpwYXNz"
    elif key:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {keys[key]}"
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post(url, data=data, content_type="application/json", **headers)
    assert response.status_code == code
    payload = response.json()
    assert text in json.dumps(payload), payload
    if code == 200:
        assert payload["failed"] == 1 and payload["ingested"] == 0
    assert Signal.objects.count() == 0 and Cost.objects.count() == 0


def test_table_has_at_least_25_cases():
    assert len(CASES) >= 25


def test_body_over_the_size_limit(client, keys, settings):
    settings.API_MAX_BODY_BYTES = 1000
    body = json.dumps({**GOOD, "data": {"blob": "x" * 2000}})
    response = client.post(
        "/api/v1/signals",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {keys['org']}",
    )
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert Signal.objects.count() == 0


def test_wrong_content_type(client, keys):
    response = client.post(
        "/api/v1/signals",
        data="event_name=x",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Bearer {keys['org']}",
    )
    assert response.status_code == 415
