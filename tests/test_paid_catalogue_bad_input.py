"""Bad input to Paid's v2 catalogue API gets a 4xx naming the field (or parameter) and
what to fix, never a 500; nothing is stored. Unknown fields are refused, not dropped.
Well-formed requests naming what we cannot represent are 422."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Agent
from billing.models import PriceAgreement
from customers.models import Contact, Customer
from tests import factories as f
from tests.api_helpers import agent_key

pytestmark = pytest.mark.django_db

CUSTOMER = {"name": "Acme", "email": "b@acme.example", "externalId": "cus_acme"}
DEEP = '{"a":' * 40 + "1" + "}" * 40


def raw(body: dict, **replace: str) -> str:
    """JSON text with some values replaced by raw JSON (1e999, "\\ud800", nesting)."""
    text = json.dumps({**body, **{k: f"@@{k}@@" for k in replace}})
    for key, value in replace.items():
        text = text.replace(f'"@@{key}@@"', value)
    return text


@pytest.fixture
def world():
    customer = f.CustomerFactory(external_id="cus_1")
    agent = f.AgentFactory(external_id="doc")
    f.OutcomeDefinitionFactory(agent=agent, name="Document", event_name="doc_done")
    return {"customer": str(customer.pk), "agent": str(agent.pk)}


def order(w, pricing=None, **extra):
    pricing = {
        "eventName": "doc_done",
        "chargeType": "usage",
        "pricingModel": "perUnit",
        "pricePoints": {"unitPrice": 100},
        **(pricing or {}),
    }
    return {
        "customerId": w["customer"],
        "startDate": "2026-01-01T00:00:00Z",
        "lines": [
            {"productId": w["agent"], "attributes": [{"name": "Document", "pricing": pricing}]}
        ],
        **extra,
    }


def tiers(*bands):
    return {
        "pricingModel": "graduatedPricing",
        "pricePoints": {
            "unitPrice": 0,
            "tiers": [{"lowerBound": lo, "upperBound": hi, "unitAmount": 10} for lo, hi in bands],
        },
    }


ATTR = "lines[0].attributes[0]."
# (case, method, path, body: dict, raw text or a function of the world, status, field named)
CASES = [
    ("NUL in a name", "post", "customers/", {**CUSTOMER, "name": "Ac\x00me"}, 400, "name"),
    ("lone surrogate", "post", "customers/", raw(CUSTOMER, name='"\\ud800"'), 400, "name"),
    (
        "surrogate in a key",
        "post",
        "customers/",
        raw(CUSTOMER, metadata='{"\\udfff": 1}'),
        400,
        "metadata",
    ),
    (
        "newline in an id",
        "post",
        "customers/",
        {**CUSTOMER, "externalId": "cus\n1"},
        400,
        "externalId",
    ),
    (
        "zero-width space in an id",
        "post",
        "customers/",
        {**CUSTOMER, "externalId": "cus\u200b1"},
        400,
        "externalId",
    ),
    ("name too long", "post", "customers/", {**CUSTOMER, "name": "x" * 201}, 400, "name"),
    ("name a number", "post", "customers/", {**CUSTOMER, "name": 5}, 400, "name"),
    ("name null", "post", "customers/", {**CUSTOMER, "name": None}, 400, "name"),
    ("email not an e-mail", "post", "customers/", {**CUSTOMER, "email": "nope"}, 400, "email"),
    (
        "no external id",
        "post",
        "customers/",
        {"name": "A", "email": "a@b.example"},
        400,
        "externalId",
    ),
    (
        "not a currency",
        "post",
        "customers/",
        {**CUSTOMER, "defaultCurrency": "BTC"},
        400,
        "defaultCurrency",
    ),
    (
        "currency a number",
        "post",
        "customers/",
        {**CUSTOMER, "defaultCurrency": 840},
        400,
        "defaultCurrency",
    ),
    (
        "not a country",
        "post",
        "customers/",
        {**CUSTOMER, "billingAddress": {"country": "ZZ"}},
        400,
        "billingAddress.country",
    ),
    (
        "address a string",
        "post",
        "customers/",
        {**CUSTOMER, "billingAddress": "1 Main St"},
        400,
        "billingAddress",
    ),
    (
        "unknown address field",
        "post",
        "customers/",
        {**CUSTOMER, "billingAddress": {"zip": "1"}},
        400,
        "billingAddress.zip",
    ),
    (
        "1e999 in metadata",
        "post",
        "customers/",
        raw(CUSTOMER, metadata='{"n": 1e999}'),
        400,
        "metadata",
    ),
    ("metadata nested deep", "post", "customers/", raw(CUSTOMER, metadata=DEEP), 400, "metadata"),
    ("metadata a list", "post", "customers/", {**CUSTOMER, "metadata": [1]}, 400, "metadata"),
    (
        "a far date",
        "post",
        "customers/",
        {**CUSTOMER, "churnDate": "10000-01-01T00:00:00Z"},
        400,
        "churnDate",
    ),
    (
        "a date past 9999 in UTC",
        "post",
        "customers/",
        {**CUSTOMER, "churnDate": "9999-12-31T23:00:00-05:00"},
        400,
        "churnDate",
    ),
    ("an unknown field", "post", "customers/", {**CUSTOMER, "colour": "red"}, 400, "colour"),
    ("a list body", "post", "customers/", [CUSTOMER], 400, "non_field_errors"),
    (
        "JSON nested past recursion",
        "post",
        "customers/",
        "[" * 100_000 + "]" * 100_000,
        400,
        "detail",
    ),
    ("not JSON", "post", "customers/", "{name: 1", 400, "detail"),
    (
        "a draft customer",
        "post",
        "customers/",
        {**CUSTOMER, "creationState": "draft"},
        422,
        "creationState",
    ),
    ("an update's unknown field", "put", "customers/{customer}", {"nmae": "x"}, 400, "nmae"),
    ("an update nulls the name", "put", "customers/{customer}", {"name": None}, 400, "name"),
    (
        "a role Paid has not",
        "post",
        "contacts/",
        lambda w: {"customerId": w["customer"], "email": "a@b.example", "roles": ["ADMIN"]},
        400,
        "roles[0]",
    ),
    (
        "customerId a number",
        "post",
        "contacts/",
        lambda w: {"customerId": int(w["customer"]), "email": "a@b.example"},
        400,
        "customerId",
    ),
    (
        "an unknown customer",
        "post",
        "contacts/",
        {"customerId": "987654", "email": "a@b.example"},
        400,
        "customerId",
    ),
    (
        "active a string",
        "post",
        "products/",
        {"name": "A", "externalId": "a", "active": "yes"},
        400,
        "active",
    ),
    (
        "external id not a slug",
        "post",
        "products/",
        {"name": "A", "externalId": "a/b"},
        400,
        "externalId",
    ),
    (
        "a product code",
        "post",
        "products/",
        {"name": "A", "externalId": "a", "productCode": "SKU"},
        422,
        "productCode",
    ),
    (
        "unitPrice a string",
        "post",
        "orders/",
        lambda w: order(w, {"pricePoints": {"unitPrice": "100"}}),
        400,
        ATTR + "pricing.pricePoints.unitPrice",
    ),
    (
        "unitPrice 1.5",
        "post",
        "orders/",
        lambda w: order(w, {"pricePoints": {"unitPrice": 1.5}}),
        400,
        ATTR + "pricing.pricePoints.unitPrice",
    ),
    (
        "unitPrice 1e999",
        "post",
        "orders/",
        lambda w: raw(
            order(w),
            customerId='"' + w["customer"] + '"',
            lines=json.dumps(order(w)["lines"]).replace('"unitPrice": 100', '"unitPrice": 1e999'),
        ),
        400,
        ATTR + "pricing.pricePoints.unitPrice",
    ),
    (
        "a negative price",
        "post",
        "orders/",
        lambda w: order(w, {"pricePoints": {"unitPrice": -1}}),
        400,
        ATTR + "pricing.pricePoints.unitPrice",
    ),
    (
        "an unknown pricing field",
        "post",
        "orders/",
        lambda w: order(w, {"colour": 1}),
        400,
        ATTR + "pricing.colour",
    ),
    (
        "a null order line (schemathesis found a 500)",
        "post",
        "orders/",
        lambda w: {**order(w), "lines": [None, None]},
        400,
        "lines[0]",
    ),
    (
        "a null attribute of a line",
        "post",
        "orders/",
        lambda w: {**order(w), "lines": [{**order(w)["lines"][0], "attributes": [None]}]},
        400,
        "lines[0].attributes[0]",
    ),
    (
        "an unknown product",
        "post",
        "orders/",
        lambda w: {**order(w), "lines": [{**order(w)["lines"][0], "productId": "99999"}]},
        400,
        "lines[0].productId",
    ),
    (
        "a start at noon",
        "post",
        "orders/",
        lambda w: order(w, startDate="2026-01-01T12:00:00Z"),
        422,
        "startDate",
    ),
    (
        "a start in year 1",
        "post",
        "orders/",
        lambda w: order(w, startDate="0001-01-01T00:00:00Z"),
        422,
        "startDate",
    ),
    (
        "an end before the start",
        "post",
        "orders/",
        lambda w: order(w, endDate="2025-01-01T00:00:00Z"),
        422,
        "endDate",
    ),
    (
        "a gap between tiers",
        "post",
        "orders/",
        lambda w: order(w, tiers((0, 100), (101, None))),
        422,
        ATTR + "pricing.pricePoints.tiers[1].lowerBound",
    ),
    (
        "a last tier with an end",
        "post",
        "orders/",
        lambda w: order(
            w,
            tiers(
                (0, 100),
            ),
        ),
        422,
        ATTR + "pricing.pricePoints.tiers[0].upperBound",
    ),
    (
        "seats",
        "post",
        "orders/",
        lambda w: order(w, {"chargeType": "seatBased"}),
        422,
        ATTR + "pricing.chargeType",
    ),
    (
        "billing in advance",
        "post",
        "orders/",
        lambda w: order(w, {"billingType": "advance"}),
        422,
        ATTR + "pricing.billingType",
    ),
    (
        "a semi-annual order",
        "post",
        "orders/",
        lambda w: order(w, billingFrequencyOverride={"frequency": "semiAnnually"}),
        422,
        "billingFrequencyOverride.frequency",
    ),
    (
        "an event no outcome has",
        "post",
        "orders/",
        lambda w: order(w, {"eventName": "refund"}),
        422,
        ATTR + "pricing.eventName",
    ),
    (
        "another currency's price",
        "post",
        "orders/",
        lambda w: order(w, {"pricePoints": {"unitPrice": 1, "currency": "EUR"}}),
        422,
        ATTR + "pricing.pricePoints.currency",
    ),
    (
        "a price past 10^12",
        "post",
        "orders/",
        lambda w: order(w, {"pricePoints": {"unitPrice": 10**15}}),
        422,
        ATTR + "pricing.pricePoints.unitPrice",
    ),
    (
        "payment terms in words",
        "post",
        "orders/",
        lambda w: order(w, paymentTerms="end of month"),
        422,
        "paymentTerms",
    ),
]


def stored():
    return (
        list(Customer.objects.order_by("pk").values()),
        Contact.objects.count(),
        list(Agent.objects.order_by("pk").values()),
        PriceAgreement.objects.count(),
    )


@pytest.mark.parametrize("case,method,path,body,status,field", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    client, world, case, method, path, body, status, field
):
    body = body(world) if callable(body) else body
    text = body if isinstance(body, str) else json.dumps(body)
    before = stored()
    response = getattr(client, method)(
        "/api/v2/" + path.format(**world),
        data=text,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {agent_key()}",
    )
    assert response.status_code == status, response.content
    assert field in response.json(), response.json()
    assert all(message for message in response.json()[field])
    assert stored() == before


LIST_PARAMETERS = [
    ("customers/", "limit=0", "limit"),
    ("customers/", "limit=1001", "limit"),
    ("customers/", "limit=abc", "limit"),
    ("contacts/", "offset=-1", "offset"),
    ("products/", "offset=1e3", "offset"),
    ("customers/", "createdAtFrom=yesterday", "createdAtFrom"),
    ("customers/", "createdAtTo=2026-02-30", "createdAtTo"),
    ("customers/", "createdAtFrom=2026-01-01T00:00:00%2B23:00", "createdAtFrom"),
    ("customers/", "name=a%00b", "name"),
    ("customers/", "status=sleeping", "status"),
    ("products/", "active=maybe", "active"),
    ("orders/", "status=paused-ish", "status"),
    ("invoices/", "issueDateFrom=10000-01-01", "issueDateFrom"),
]


@pytest.mark.parametrize("path,query,field", LIST_PARAMETERS)
def test_bad_list_parameters_are_400s_naming_them(client, world, path, query, field):
    response = client.get(f"/api/v2/{path}?{query}", HTTP_AUTHORIZATION=f"Bearer {agent_key()}")
    assert response.status_code == 400 and field in response.json(), response.content


@pytest.mark.parametrize(
    "path",
    [
        "customers/abc",
        "customers/99999999999999999999999",
        "customers/%D9%A1",  # an Arabic-Indic digit is no id here
        "customers/external/%00",
        "customers/external/unknown",
        "contacts/external/x%0Ay",
        "products/0",
        "orders/1x/lines",
        "invoices/-1",
        "customers/1/state",  # one of Paid's paths not served here
    ],
)
def test_what_names_nothing_is_a_json_404(client, world, path):
    response = client.get(f"/api/v2/{path}", HTTP_AUTHORIZATION=f"Bearer {agent_key()}")
    assert response.status_code == 404 and response.json()["detail"]


def test_a_body_that_is_not_json_is_a_415(client, world):
    response = client.post(
        "/api/v2/customers/",
        data="name=Acme",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Bearer {agent_key()}",
    )
    assert response.status_code == 415 and not Customer.objects.filter(name="Acme").exists()


READS = [
    "customers/?limit=5",
    "customers/{customer}",
    "customers/external/cus_1",
    "contacts/",
    "products/?active=true",
    "products/external/doc",
    "orders/",
    "invoices/?status=posted",
]


@pytest.mark.parametrize("path", READS)
def test_a_get_never_writes(client, world, path):
    header = {"HTTP_AUTHORIZATION": f"Bearer {agent_key()}"}
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v2/" + path.format(**world), **header)
    assert response.status_code == 200
    writes = [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE")
    ]
    assert writes == []
