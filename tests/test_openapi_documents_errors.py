"""The OpenAPI schema lists every status an endpoint answers, and the error bodies the
API really sends match the shapes it documents for them."""

import json

import jsonschema
import pytest
from django.core.cache import cache
from django.db import OperationalError

from agents.api import views
from tests import factories as f
from tests.api_helpers import agent_key, post

pytestmark = pytest.mark.django_db

INGESTION = {"400", "401", "403", "413", "415", "429", "503"}
STAFF_READ = {"400", "401", "403", "404", "503"}
# Paid's v2 catalogue (customers, contacts, products, orders, invoices): API keys for all.
CATALOGUE = {"400", "401", "403", "429", "503"}


def statuses_of(path: str, method: str) -> set[str]:
    if not path.startswith("/api/v2/") or path.endswith("/bulk"):
        return INGESTION if method == "post" else STAFF_READ
    statuses = CATALOGUE | ({"404"} if "{" in path else set())
    if method in ("post", "put"):
        statuses |= {"409", "413", "415", "422"}
    return statuses | ({"409"} if method == "delete" else set())


@pytest.fixture
def schema(admin_client):
    return admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def test_every_endpoint_lists_its_error_statuses(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            expected = statuses_of(path, method)
            assert expected <= set(operation["responses"]), (method, path)
            retry = ["429", "503"] if method == "post" else ["503"]
            for code in retry:
                assert "Retry-After" in operation["responses"][code]["headers"], (path, code)


def test_batch_limits_are_documented(schema):
    bulk = schema["paths"]["/api/v1/signals/bulk"]["post"]
    assert "At most 1,000 signals" in bulk["description"]
    assert schema["components"]["schemas"]["BulkSignalsIn"]["properties"]["signals"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/SignalIn"},
        "maxItems": 1000,
        "minItems": 1,
    }
    assert "413" in bulk["responses"] and "bytes here" in bulk["responses"]["413"]["description"]


def database_down(**kwargs):
    raise OperationalError("connection refused")


def conforms(schema, path, method, response):
    documented = schema["paths"][path][method]["responses"][str(response.status_code)]
    body_schema = documented["content"]["application/json"]["schema"]
    jsonschema.validate(
        response.json(), {**body_schema, "components": schema["components"]}
    )  # raises with the mismatch


def test_error_bodies_match_the_documented_shapes(client, schema, settings, monkeypatch):
    cache.clear()
    key = agent_key(f.AgentFactory(external_id="a1"))
    bulk = "/api/v1/signals/bulk"
    cases = [
        (bulk, post(client, bulk, {"signals": []}, key), 400),
        (bulk, post(client, bulk, "{not json", key), 400),
        ("/api/v1/signals", post(client, "/api/v1/signals", {"customer_id": "c"}, key), 400),
        ("/api/v2/costs/bulk", post(client, "/api/v2/costs/bulk", {"costs": [{}]}, key), 400),
        ("/api/v2/costs/bulk", post(client, "/api/v2/costs/bulk", {"costs": 1}, key), 400),
        (bulk, post(client, bulk, {"signals": []}, "nope.nope"), 401),
        (
            bulk,
            client.post(bulk, "x=1", "text/plain", HTTP_AUTHORIZATION=f"Bearer {key}"),
            415,
        ),
    ]
    with monkeypatch.context() as patched:
        patched.setattr(views, "signals_ingest", database_down)
        unavailable = post(
            client, bulk, {"signals": [{"event_name": "e", "customer_id": "c"}]}, key
        )
    assert unavailable["Retry-After"]
    cases.append((bulk, unavailable, 503))
    settings.API_MAX_BODY_BYTES = 100
    cases.append((bulk, post(client, bulk, {"signals": [{"pad": "x" * 200}]}, key), 413))
    settings.API_KEY_THROTTLE_RATE = "1/minute"
    cache.clear()
    post(client, bulk, {"signals": []}, key)
    cases.append((bulk, post(client, bulk, {"signals": []}, key), 429))
    for path, response, status in cases:
        assert response.status_code == status, (path, response.content)
        conforms(schema, path, "post", response)


def test_staff_read_errors_match_the_documented_shapes(client, admin_client, schema):
    bad_filter = admin_client.get("/api/v1/signals", {"occurred_after": "yesterday"})
    assert bad_filter.status_code == 400
    conforms(schema, "/api/v1/signals", "get", bad_filter)
    missing = admin_client.get("/api/v1/signals/999999")
    assert missing.status_code == 404
    conforms(schema, "/api/v1/signals/{id}", "get", missing)
    anonymous = client.get("/api/v1/signals")
    assert anonymous.status_code in (401, 403)
    conforms(schema, "/api/v1/signals", "get", anonymous)
    assert json.loads(anonymous.content)["detail"]
