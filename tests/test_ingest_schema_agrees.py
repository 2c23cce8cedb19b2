"""The OpenAPI schema of the ingestion requests says what the endpoints do.

Driven by the schema served at /api/schema/: every maxLength, minimum, maximum,
required field, date-time and enum it shows for a request is tried just past the
limit against the endpoint, which must refuse the item with an error naming the
field, and just within it, which must not get that error; every field it shows as
nullable is sent as null and accepted. And every declared
field of agents/api/request_fields.py is in the schema with its limits.
"""

import copy

import pytest

from agents.api import request_fields as rf
from tests import factories as f
from tests.api_helpers import agent_key, post

pytestmark = pytest.mark.django_db

CUSTOMER_PK = 4242
CUSTOMER = {"externalCustomerId": "cus_1"}
BY_PK = {"customer": {"customerId": CUSTOMER_PK}}
PRODUCT = {"externalProductId": "agent_1"}
V1_SIGNAL = {"agent_id": "agent_1", "event_name": "done", "customer_id": "cus_1"}
V1_COST_AMOUNT = {"agent_id": "agent_1", "amount": "0.5", "currency": "USD", "input_tokens": 1}
V1_COST_PRICED = {"agent_id": "agent_1", "vendor": "openai", "model": "gpt-4o", "input_tokens": 1}
V2_SIGNAL = {"eventName": "done", "customer": CUSTOMER, "attribution": PRODUCT}
V2_COST = {"type": "cost", "customer": CUSTOMER, "product": PRODUCT, "amount": 1, "currency": "USD"}
V2_USAGE = {
    "type": "usage",
    "customer": CUSTOMER,
    "product": PRODUCT,
    "vendor": "openai",
    "model": "gpt-4o",
    "usage": {"inputTokens": 1, "outputTokens": 1},
    "costOverride": {"amount": "0.5", "currency": "USD"},
}

# url -> (the list's key in a bulk body or None for one item, valid items to start from)
ENDPOINTS = {
    "/api/v1/signals": (None, [V1_SIGNAL]),
    "/api/v1/signals/bulk": ("signals", [V1_SIGNAL]),
    "/api/v1/costs/bulk": ("costs", [V1_COST_AMOUNT, V1_COST_PRICED]),
    "/api/v2/signals/bulk": ("signals", [V2_SIGNAL, V2_SIGNAL | BY_PK]),
    "/api/v2/costs/bulk": ("costs", [V2_COST, V2_USAGE, V2_COST | BY_PK]),
}
OMIT = object()
DECLARED = {
    "/api/v1/signals": rf.SIGNAL_V1,
    "/api/v1/signals/bulk": rf.SIGNALS_V1,
    "/api/v1/costs/bulk": rf.COSTS_V1,
    "/api/v2/signals/bulk": rf.SIGNALS_V2,
    "/api/v2/costs/bulk": rf.COSTS_V2,
}


@pytest.fixture
def schema(admin_client):
    return admin_client.get("/api/schema/?format=json").json()


def resolve(schema: dict, prop: dict) -> dict | None:
    """The component a property refers to ($ref, or allOf of one $ref), else None."""
    ref = prop.get("$ref") or (prop.get("allOf") or [{}])[0].get("$ref")
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else None


def item_component(schema: dict, url: str) -> dict:
    body = schema["paths"][url]["post"]["requestBody"]["content"]["application/json"]["schema"]
    component = resolve(schema, body)
    key = ENDPOINTS[url][0]
    return resolve(schema, component["properties"][key]["items"]) if key else component


def limits(schema: dict, component: dict, path=()):
    """(path, what, a value just past it, a value just within it or None) for every
    limit the schema shows on an item."""
    for name in component.get("required", []):
        yield (*path, name), "required", OMIT, None
    for name, prop in component["properties"].items():
        here = (*path, name)
        nested = resolve(schema, prop)
        if nested is not None and "enum" in nested:
            yield here, "enum", "not-a-choice", nested["enum"][0]
        elif nested is not None:
            yield from limits(schema, nested, here)
        if (prop.get("oneOf") or [{}])[0].get("$ref"):  # a nullable enum
            yield here, "enum", "not-a-choice", resolve(schema, prop["oneOf"][0])["enum"][0]
        if "maxLength" in prop:
            size = prop["maxLength"]
            yield here, f"maxLength {size}", "x" * (size + 1), "x" * size
        if "minimum" in prop:
            yield here, f"minimum {prop['minimum']}", prop["minimum"] - 1, prop["minimum"]
        if "maximum" in prop:
            top = prop["maximum"] - (1 if prop.get("exclusiveMaximum") else 0)
            yield here, f"maximum {prop['maximum']}", top + 1, top
        if prop.get("format") == "date-time":
            yield here, "date-time", "yesterday", "2026-01-01T00:00:00Z"


def nullables(schema: dict, component: dict, path=()):
    for name, prop in component["properties"].items():
        nested = resolve(schema, prop)
        if nested is not None and "enum" not in nested:
            yield from nullables(schema, nested, (*path, name))
        if prop.get("nullable"):
            yield (*path, name)


def with_value(item: dict, path: tuple, value) -> dict | None:
    """A copy of the item with the value at path (or without it); None if no parent there."""
    changed = copy.deepcopy(item)
    parent = changed
    for name in path[:-1]:
        parent = parent.get(name)
        if not isinstance(parent, dict):
            return None
    if value is OMIT:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return changed


def item_errors(client, key, url: str, item: dict) -> dict:
    """The errors the endpoint gave for the item ({} if it was accepted)."""
    list_key = ENDPOINTS[url][0]
    response = post(client, url, {list_key: [item]} if list_key else item, key)
    assert response.status_code in (200, 201, 400), response.content
    payload = response.json()
    if list_key is None:
        return payload.get("errors", {}) if response.status_code == 400 else {}
    return payload["errors"][0]["errors"] if payload.get("errors") else {}


def messages(field: str, errors: dict, value) -> list[str]:
    """The messages naming the field, with the value sent replaced, so that messages
    quoting what was sent ("Unknown agent 'xx…'") compare equal for any value."""
    found = [
        m for key, ms in errors.items() if key == field or key.endswith("." + field) for m in ms
    ]
    return sorted(m.replace(repr(value), "<value>").replace(str(value), "<value>") for m in found)


def kept(client, key, url: str, base: dict, path: tuple, bad, good) -> bool:
    """Whether the endpoint refuses `bad` with a message naming the field, and
    answers `good` (a value just within the limit) otherwise."""
    bad_item = with_value(base, path, bad)
    if bad_item is None:
        return False
    refused = messages(path[-1], item_errors(client, key, url, bad_item), bad)
    if not refused:
        return False
    if good is None:
        return True
    good_item = with_value(base, path, good)
    return messages(path[-1], item_errors(client, key, url, good_item), good) != refused


@pytest.fixture
def key():
    # The agent's own key: items that leave their agent out (or null) post as it.
    f.CustomerFactory(external_id="cus_1", pk=CUSTOMER_PK)
    return agent_key(f.AgentFactory(external_id="agent_1"))


@pytest.mark.parametrize("url", list(ENDPOINTS))
def test_every_limit_in_the_schema_is_what_the_endpoint_refuses(client, key, schema, url):
    bases = ENDPOINTS[url][1]
    for base in bases:
        assert item_errors(client, key, url, base) == {}, ("a valid item was refused", base)
    found = list(limits(schema, item_component(schema, url)))
    assert len(found) >= 5, found
    not_refused = [
        (".".join(path), what)
        for path, what, bad, good in found
        if not any(kept(client, key, url, base, path, bad, good) for base in bases)
    ]
    assert not_refused == [], "the schema shows limits the endpoint does not keep"


@pytest.mark.parametrize("url", list(ENDPOINTS))
def test_every_nullable_field_in_the_schema_may_be_null(client, key, schema, url):
    bases = ENDPOINTS[url][1]
    refused = []
    for path in nullables(schema, item_component(schema, url)):
        tried = [item for base in bases if (item := with_value(base, path, None)) is not None]
        if tried and all(item_errors(client, key, url, item) for item in tried):
            refused.append(".".join(path))
    assert refused == [], "the schema says null is accepted"


def declared_fields(shape: rf.Shape, path=()):
    for field in shape.fields:
        yield (*path, field.name), field
        if field.shape is not None:
            yield from declared_fields(field.shape, (*path, field.name))


@pytest.mark.parametrize("url", list(DECLARED))
def test_every_declared_field_is_in_the_schema_with_its_limits(schema, url):
    body = schema["paths"][url]["post"]["requestBody"]["content"]["application/json"]["schema"]
    top = resolve(schema, body)
    for path, field in declared_fields(DECLARED[url]):
        component = top
        for name in path[:-1]:
            prop = component["properties"][name]
            component = resolve(schema, prop.get("items", prop))
        prop = component["properties"][field.name]
        where = ".".join(path)
        assert prop.get("maxLength") == field.max_length, where
        if field.minimum is not None:
            assert prop.get("minimum") == field.minimum, where
        assert (field.name in component.get("required", [])) == field.required, where
        if field.required_if:
            assert f"Required when `{field.required_if[0]}`" in prop["description"], where
        if field.alias:
            assert field.name in component["properties"][field.alias]["description"], where
        if field.kind == rf.Kind.LIST:
            assert prop["maxItems"] == rf.MAX_BATCH, where
        declared = {f.name for f in field.shape.fields} if field.shape else set()
        declared |= {f.alias for f in field.shape.fields if f.alias} if field.shape else set()
        if field.kind == rf.Kind.NESTED:
            assert set(resolve(schema, prop)["properties"]) == declared, where
