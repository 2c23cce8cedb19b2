"""The OpenAPI schema describes Paid's v2 catalogue as it answers: each body the API
really sends, success or error, validates against the schema documented for its status;
request bodies refuse fields they do not declare; the operation ids are the SDK's."""

import json
from decimal import Decimal as D

import jsonschema
import pytest

from agents.models import Agent
from billing.services import period_close
from tests import factories as f
from tests.api_helpers import agent_key
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(admin_client):
    return admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


@pytest.fixture
def world():
    w = World(unit_price=D("1.5"), partial_rule="fixed")
    w.signals(2)
    w.signals(1, status="partial")  # a fractional quantity: 2.4
    invoice = period_close(period_id=w.period().pk)
    f.CustomerFactory(external_id="cus_bare")
    return {"w": w, "invoice": invoice.pk, "order": w.agreement.pk, "agent": w.agent.pk}


def json_schema(node):
    """OpenAPI 3.0's `nullable: true` as JSON Schema says it (what schemathesis does)."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        node = {"anyOf": [node, {"type": "null"}]}
    return node


def conforms(schema, path, method, response):
    operation = schema["paths"][path][method]
    documented = operation["responses"][str(response.status_code)]
    body_schema = documented["content"]["application/json"]["schema"]
    jsonschema.validate(
        response.json(), json_schema({**body_schema, "components": schema["components"]})
    )


def request(client, method, url, body=None, key=None):
    header = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    if body is None:
        return getattr(client, method)(url, **header)
    return getattr(client, method)(
        url, data=json.dumps(body), content_type="application/json", **header
    )


def test_real_bodies_match_the_documented_ones(client, schema, world):
    org, agent = agent_key(), agent_key(agent=Agent.objects.get(pk=world["agent"]))
    invoice, order = world["invoice"], world["order"]
    checks = [
        ("/api/v2/customers/", "get", "/api/v2/customers/?limit=1", None, org, 200),
        ("/api/v2/customers/", "post", "/api/v2/customers/", {"name": "A"}, org, 400),
        (
            "/api/v2/customers/",
            "post",
            "/api/v2/customers/",
            {"name": "A", "email": "a@x.example", "externalId": "a", "billingAddress": {"x": 1}},
            org,
            400,
        ),
        ("/api/v2/customers/", "post", "/api/v2/customers/", {"name": "A"}, agent, 403),
        ("/api/v2/customers/", "get", "/api/v2/customers/", None, None, 401),
        ("/api/v2/customers/", "get", "/api/v2/customers/?limit=0", None, org, 400),
        (
            "/api/v2/customers/",
            "post",
            "/api/v2/customers/",
            {"name": "A", "email": "a@x.example", "externalId": "cus_bare"},
            org,
            409,
        ),
        (
            "/api/v2/customers/",
            "post",
            "/api/v2/customers/",
            {"name": "A", "email": "a@x.example", "externalId": "b", "creationState": "draft"},
            org,
            422,
        ),
        (
            "/api/v2/customers/external/{external_id}",
            "get",
            "/api/v2/customers/external/cus_bare",
            None,
            agent,
            200,
        ),
        ("/api/v2/customers/{id}", "get", "/api/v2/customers/999999", None, org, 404),
        (
            "/api/v2/customers/{id}",
            "delete",
            f"/api/v2/customers/{world['w'].customer.pk}",
            None,
            org,
            409,
        ),
        (
            "/api/v2/customers/external/{external_id}",
            "delete",
            "/api/v2/customers/external/cus_bare",
            None,
            org,
            200,
        ),
        ("/api/v2/products/{id}", "get", f"/api/v2/products/{world['agent']}", None, org, 200),
        ("/api/v2/products/", "get", "/api/v2/products/", None, org, 200),
        ("/api/v2/contacts/", "get", "/api/v2/contacts/", None, org, 200),
        ("/api/v2/orders/", "get", "/api/v2/orders/", None, org, 200),
        ("/api/v2/orders/{id}", "get", f"/api/v2/orders/{order}", None, org, 200),
        ("/api/v2/orders/{id}/lines", "get", f"/api/v2/orders/{order}/lines", None, org, 200),
        ("/api/v2/invoices/", "get", "/api/v2/invoices/", None, org, 200),
        ("/api/v2/invoices/{id}", "get", f"/api/v2/invoices/{invoice}", None, org, 200),
        (
            "/api/v2/invoices/{id}/lines",
            "get",
            f"/api/v2/invoices/{invoice}/lines",
            None,
            org,
            200,
        ),
    ]
    for path, method, url, body, key, status in checks:
        response = request(client, method, url, body, key)
        assert response.status_code == status, (url, response.content)
        conforms(schema, path, method, response)


def test_a_fractional_quantity_is_sent_exact(client, world):
    lines = request(client, "get", f"/api/v2/invoices/{world['invoice']}/lines", key=agent_key())
    quantities = [line["quantity"] for line in lines.json()["data"]]
    # 2 successes and a partial at 40%: 2.4 outcomes at 1.50 = 3.60.
    assert quantities == [2.4]
    assert b'"quantity":2.4,' in lines.content and b'"totalPriceBeforeTax":3.6,' in lines.content


def test_request_bodies_refuse_undeclared_fields(schema):
    components = schema["components"]["schemas"]
    for name in ("CustomerIn", "ContactIn", "ProductIn", "OrderIn", "PricingIn", "TierIn"):
        assert components[name]["additionalProperties"] is False, name


def test_operations_are_named_as_the_sdks_methods(schema):
    ids = {
        operation["operationId"]
        for path, methods in schema["paths"].items()
        if path.startswith("/api/v2/") and not path.endswith("/bulk")
        for operation in methods.values()
    }
    assert {
        "listCustomers",
        "createCustomer",
        "getCustomerById",
        "updateCustomerByExternalId",
        "deleteCustomerByExternalId",
        "listContacts",
        "deleteContactById",
        "createProduct",
        "updateProductByExternalId",
        "createOrder",
        "getOrderLines",
        "getInvoiceById",
        "getInvoiceLines",
    } <= ids
