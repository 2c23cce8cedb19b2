"""Finance grants prepaid credits through the staff API (POST /api/v1/customers/{external_id}/
credit-grants), idempotent by Idempotency-Key or reference; account managers and viewers
list them and read each with its ledger; bad input is a 400 naming the field and stores
nothing; an unknown customer 404; every other caller refused."""

import json
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import User

from agents.models import StaffAPIKey
from billing.credits import grants_expire
from billing.models import CreditGrant, CreditLedgerEntry
from billing.services import period_close
from tests import factories as f
from tests.api_helpers import agent_key
from tests.billing_helpers import World
from tests.credit_helpers import grant
from tests.receivables_helpers import staff

pytestmark = pytest.mark.django_db

FEB = datetime(2026, 2, 1, tzinfo=UTC)


def url(customer_or_id) -> str:
    external_id = getattr(customer_or_id, "external_id", customer_or_id)
    return f"/api/v1/customers/{external_id}/credit-grants"


def post(client, customer, data, **extra):
    raw = data if isinstance(data, str) else json.dumps(data)
    return client.post(url(customer), raw, content_type="application/json", **extra)


def stored() -> list:
    return list(CreditGrant.objects.values_list("pk", flat=True)) + list(
        CreditLedgerEntry.objects.values_list("pk", flat=True)
    )


@pytest.fixture
def finance(client):
    client.force_login(staff("Finance"))
    return client


@pytest.fixture
def world():
    return World(unit_price=D("10.00"))


def test_finance_grants_money_and_a_retry_answers_the_first(finance, world):
    body = {
        "name": "2026 commitment",
        "amount": "1,250.50",
        "effective_at": "2026-01-01",
        "expires_at": "2026-12-31T23:59:59Z",
        "priority": 5,
        "note": "Signed deal #42",
    }
    first = post(finance, world.customer, body, HTTP_IDEMPOTENCY_KEY="req-1")
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["amount"] == "1250.50" and data["remaining"] == "1250.50"
    assert (data["currency"], data["kind"], data["unit"], data["source"]) == (
        "USD",
        "paid",
        "money",
        "api",
    )
    assert data["effective_at"] == "2026-01-01T00:00:00Z"
    assert data["expires_at"] == "2026-12-31T23:59:59Z"
    assert (data["priority"], data["reference"], data["created_by"]) == (5, "req-1", "finance")
    assert data["ledger"] == f"/api/v1/credit-grants/{data['id']}"
    assert data["customer_id"] == world.customer.external_id
    again = post(finance, world.customer, body, HTTP_IDEMPOTENCY_KEY="req-1")
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    other = post(finance, world.customer, {**body, "amount": "99.00"}, HTTP_IDEMPOTENCY_KEY="req-1")
    assert other.status_code == 409
    assert f"Grant {data['id']}" in other.json()["Idempotency-Key"][0]
    assert "amount differ" in other.json()["Idempotency-Key"][0]
    by_field = post(finance, world.customer, {**body, "reference": "req-1", "priority": 6})
    assert by_field.status_code == 409 and "priority" in by_field.json()["reference"][0]
    assert CreditGrant.objects.count() == 1
    ledger = finance.get(data["ledger"]).json()
    assert ledger["entries"] == [
        {
            "id": ledger["entries"][0]["id"],
            "kind": "grant",
            "amount": "1250.50",
            "value": "1250.50",
            "balance_after": "1250.50",
            "invoice": None,
            "invoice_number": None,
            "credit_note": None,
            "credit_note_number": None,
            "at": ledger["entries"][0]["at"],
            "note": "Paid (prepaid commitment or top-up) grant (Staff API)",
        }
    ]


def test_a_reference_without_effective_date_replays_as_sent(finance, world):
    body = {"name": "Promo", "kind": "promotional", "amount": "50", "reference": "promo-7"}
    first = post(finance, world.customer, body)
    assert first.status_code == 201, first.content
    again = post(finance, world.customer, body)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert first.json()["amount"] == "50.00" and first.json()["kind"] == "promotional"


def test_an_outcome_grant_and_a_yen_grant(finance, world):
    outcomes = post(
        finance,
        world.customer,
        {
            "name": "500 extractions",
            "unit": "outcomes",
            "outcome_definition": world.outcome.pk,
            "amount": "500",
        },
    )
    assert outcomes.status_code == 201, outcomes.content
    assert (outcomes.json()["amount"], outcomes.json()["remaining"]) == ("500", "500")
    assert outcomes.json()["outcome_definition"] == world.outcome.pk
    yen = f.CustomerFactory(currency="JPY")
    response = post(finance, yen, {"name": "Yen", "amount": "38,323"})
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "38323" and response.json()["currency"] == "JPY"


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"name": "x"}, "amount", "required"),
        ({"name": "x", "amount": "1e3"}, "amount", "is not an amount"),
        ({"name": "x", "amount": "-5"}, "amount", "positive"),
        ({"name": "x", "amount": "0"}, "amount", "positive"),
        ({"name": "x", "amount": 5}, "amount", "string"),
        ({"name": "x", "amount": "1,25.00"}, "amount", "is not an amount"),
        ({"name": "x", "amount": "1.001"}, "amount", "2 decimal places"),
        ({"name": "x", "amount": "1000000000000"}, "amount", "below"),
        ({"name": "x", "amount": "1", "currency": "EUR"}, "currency", "invoiced in USD"),
        ({"name": "x", "amount": "1", "currency": "ZZZ"}, "currency", "ZZZ"),
        (
            {"name": "x", "amount": "1", "effective_at": "2026-03-01", "expires_at": "2026-02-01"},
            "expires_at",
            "after the effective date",
        ),
        ({"name": "x", "amount": "1", "unit": "outcomes"}, "outcome_definition", "names the"),
        (
            {"name": "x", "amount": "1", "unit": "outcomes", "outcome_definition": 10**9},
            "outcome_definition",
            "Unknown outcome definition",
        ),
        (
            {"name": "x", "amount": "1", "outcome_definition": "OUTCOME"},
            "outcome_definition",
            "Only an outcome grant",
        ),
        ({"amount": "1"}, "name", "Give the grant a name"),
        ({"name": " ", "amount": "1"}, "name", "blank"),
        ({"name": "x", "amount": "1", "colour": "red"}, "colour", "Unknown field"),
        ({"name": "x", "amount": "1", "kind": "gift"}, "kind", "not a valid choice"),
        ({"name": "x", "amount": "1", "priority": -1}, "priority", "greater than or equal"),
        ({"name": "x", "amount": "1", "priority": "1"}, "priority", "whole number"),
        ({"name": "x", "amount": "1", "applies_to_fees": "yes"}, "applies_to_fees", "true or"),
        ({"name": "x", "amount": "1", "effective_at": "yesterday"}, "effective_at", "ISO 8601"),
        ({"name": "x", "amount": "1", "effective_at": 20260101}, "effective_at", "ISO 8601"),
        (
            {"name": "x", "amount": "1", "effective_at": "2026-01-01T00:00:00+20:00"},
            "effective_at",
            "±15:59",
        ),
        ({"name": "x", "amount": "1", "purchase_price": "5.00"}, "purchase_price", "top-up"),
        (
            {"name": "x", "amount": "1", "top_up": True, "purchase_price": "-1"},
            "purchase_price",
            "positive",
        ),
        (
            {
                "name": "x",
                "amount": "10",
                "unit": "outcomes",
                "outcome_definition": "OUTCOME",
                "top_up": True,
            },
            "purchase_price",
            "needs its purchase price",
        ),
        ({"name": "x", "amount": "1", "note": "a\x00b"}, "note", "Null characters"),
        ({"name": "x", "amount": "1", "note": "a\ud800b"}, "note", "Surrogate"),
        ({"name": "x\x00", "amount": "1"}, "name", "NUL"),
        ({"name": "x", "amount": "1", "reference": "r" * 201}, "reference", "200"),
        ({"name": "x", "amount": "1", "top_up": "true"}, "top_up", "true or false"),
        ({"name": "x", "amount": "1", "expires_at": "2999-12-31"}, "expires_at", "years ahead"),
        ({"name": "x", "amount": "1", "effective_at": "2200-01-01"}, "effective_at", "years"),
        (
            {"name": "x", "amount": "5", "unit": "outcomes", "outcome_definition": "UNPRICED"},
            "outcome_definition",
            "No agreement of customer",
        ),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(finance, world, body, field, text):
    if body.get("outcome_definition") == "OUTCOME":
        body = {**body, "outcome_definition": world.outcome.pk}
    if body.get("outcome_definition") == "UNPRICED":  # the agent's, priced for nobody
        filing = f.OutcomeDefinitionFactory(agent=world.agent, name="Filing", event_name="filed")
        body = {**body, "outcome_definition": filing.pk}
    response = post(finance, world.customer, body)
    assert response.status_code == 400, response.content
    assert text in " ".join(response.json()[field]), response.json()
    assert stored() == []


def test_header_and_reference_that_differ_and_a_bad_header(finance, world):
    body = {"name": "x", "amount": "1", "reference": "a"}
    response = post(finance, world.customer, body, HTTP_IDEMPOTENCY_KEY="b")
    assert response.status_code == 400 and "header" in response.json()["reference"][0]
    body = {"name": "x", "amount": "1"}
    response = post(finance, world.customer, body, HTTP_IDEMPOTENCY_KEY="k" * 201)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()
    assert stored() == []


def test_a_customer_whose_agreement_is_in_another_currency_is_told_to_fix_it(finance):
    customer = f.CustomerFactory(currency="USD")
    f.PriceAgreementFactory(customer=customer, currency="EUR", name="Euro deal")
    response = post(finance, customer, {"name": "x", "amount": "10"})
    assert response.status_code == 400
    assert "Euro deal" in response.json()["currency"][0]
    assert stored() == []


def test_a_top_up_needs_an_invoice_ahead_to_bill_it(finance):
    customer = f.CustomerFactory()
    response = post(finance, customer, {"amount": "100.00", "top_up": True})
    assert response.status_code == 400
    assert "no agreement" in response.json()["top_up"][0]
    assert stored() == []


def test_not_json_unknown_customers_and_unknown_grants(finance, world):
    assert post(finance, world.customer, "{nope").status_code == 400
    for external_id in ("cus_nobody", "a/b", "x" * 300):
        assert post(finance, external_id, {"name": "x", "amount": "1"}).status_code == 404
        assert finance.get(url(external_id)).status_code == 404
    assert finance.get("/api/v1/credit-grants/999999").status_code == 404
    assert finance.get(f"/api/v1/credit-grants/{2**70}").status_code == 404
    assert stored() == []


def test_the_list_is_newest_first_and_paginated(finance, world):
    for amount in ("10", "20", "30"):
        assert post(finance, world.customer, {"name": amount, "amount": amount}).status_code == 201
    grant(f.CustomerFactory(), "5.00")  # another customer's: not listed
    listed = finance.get(url(world.customer)).json()
    assert listed["count"] == 3
    assert [g["amount"] for g in listed["results"]] == ["30.00", "20.00", "10.00"]
    page = finance.get(url(world.customer), {"limit": 1, "offset": 1}).json()
    assert [g["name"] for g in page["results"]] == ["20"] and page["next"]


def test_the_ledger_shows_drawdowns_with_their_invoice_and_the_expiry(finance, world):
    g = grant(world.customer, "50.00", expires_at=FEB)
    world.signals(3)
    invoice = period_close(period_id=world.period(1).pk)
    assert grants_expire(now=datetime(2026, 2, 2, tzinfo=UTC)) == 1
    before = stored()
    data = finance.get(f"/api/v1/credit-grants/{g.pk}").json()
    # 50.00 granted, 3 x 10.00 drawn by the January invoice, 20.00 written off.
    assert [
        (e["kind"], e["amount"], e["value"], e["balance_after"], e["invoice_number"])
        for e in data["entries"]
    ] == [
        ("grant", "50.00", "50.00", "50.00", None),
        ("drawdown", "-30.00", "-30.00", "20.00", invoice.number),
        ("expiry", "-20.00", "-20.00", "0.00", None),
    ]
    assert data["remaining"] == "0.00"
    assert data["entries"][2]["note"] == "Expired 2026-02-01 00:00 UTC"
    assert stored() == before  # reading writes nothing


def test_a_top_up_through_the_api_is_billed_on_the_next_invoice(finance, world):
    response = post(
        finance,
        world.customer,
        {"amount": "200.00", "top_up": True, "purchase_price": "180.00", "reference": "t-1"},
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["name"], data["source"], data["purchase_price"]) == ("Top-up", "top_up", "180.00")
    assert data["purchase_invoice_number"] is None
    invoice = period_close(period_id=world.period(1).pk)
    line = invoice.lines.get(kind="credit_purchase")
    assert line.amount == D("180.00")
    read = finance.get(data["ledger"]).json()
    assert read["purchase_invoice_number"] == invoice.number


@pytest.mark.parametrize(
    ("role", "reads", "creates"),
    [
        ("Finance", 200, 201),
        ("Account managers", 200, 403),
        ("Viewers", 200, 403),
        ("plain staff", 403, 403),
        ("anonymous", 403, 403),
    ],
)
def test_roles(client, world, role, reads, creates):
    g = grant(world.customer, "5.00")
    if role == "plain staff":
        client.force_login(User.objects.create_user("p", password="x-1", is_staff=True))
    elif role != "anonymous":
        client.force_login(staff(role))
    assert client.get(url(world.customer)).status_code == reads
    assert client.get(f"/api/v1/credit-grants/{g.pk}").status_code == reads
    # Refused before the customer is looked up: an unknown one answers the same.
    assert client.get(url("cus_nobody")).status_code == (404 if reads == 200 else reads)
    response = post(client, world.customer, {"name": "x", "amount": "1.00"})
    assert response.status_code == creates, response.content
    assert CreditGrant.objects.count() == (2 if creates == 201 else 1)


@pytest.mark.parametrize("holder", ["agent", "other agent", "organisation"])
def test_agent_keys_are_refused(client, world, holder):
    agent = world.agent if holder == "agent" else f.AgentFactory() if holder else None
    key = agent_key(None if holder == "organisation" else agent)
    g = grant(world.customer, "5.00")
    for scheme in ("Bearer", "Token"):
        auth = {"HTTP_AUTHORIZATION": f"{scheme} {key}"}
        assert client.get(url(world.customer), **auth).status_code in (401, 403)
        assert client.get(f"/api/v1/credit-grants/{g.pk}", **auth).status_code in (401, 403)
        response = post(client, world.customer, {"name": "x", "amount": "1"}, **auth)
        assert response.status_code in (401, 403)
        # Told what this endpoint takes, not that no credentials came.
        told = {"Bearer": "does not take API keys", "Token": "Invalid token"}[scheme]
        assert told in response.json()["detail"]
    assert CreditGrant.objects.count() == 1


def test_finance_token_creates_and_a_viewer_token_reads(client, world):
    finance_token = StaffAPIKey.objects.create_key(name="t", user=staff("Finance"))[1]
    viewer_token = StaffAPIKey.objects.create_key(name="v", user=staff("Viewers"))[1]
    response = post(
        client,
        world.customer,
        {"name": "x", "amount": "1"},
        HTTP_AUTHORIZATION=f"Token {finance_token}",
    )
    assert response.status_code == 201
    listed = client.get(url(world.customer), HTTP_AUTHORIZATION=f"Token {viewer_token}")
    assert listed.status_code == 200 and listed.json()["count"] == 1
    auth = {"HTTP_AUTHORIZATION": f"Token {viewer_token}"}
    refused = post(client, world.customer, {"name": "y", "amount": "1"}, **auth)
    assert refused.status_code == 403 and "add_creditgrant" in refused.json()["detail"]


def test_the_schema_says_which_fields_may_be_null(finance, world):
    # A client generated from /api/schema/ must accept the nulls a grant read returns
    # (schemathesis found these declared as plain strings).
    g = grant(world.customer, "50.00")
    data = finance.get(f"/api/v1/credit-grants/{g.pk}").json()
    nulls = {k for k, v in data.items() if v is None}
    entry_nulls = {k for k, v in data["entries"][0].items() if v is None}
    assert {"created_by", "purchase_invoice_number"} <= nulls
    assert {"invoice_number", "credit_note_number"} <= entry_nulls
    schemas = finance.get("/api/schema/", HTTP_ACCEPT="application/json").json()["components"][
        "schemas"
    ]
    for name, fields in (("CreditGrantWithLedgerOut", nulls), ("LedgerEntryOut", entry_nulls)):
        properties = schemas[name]["properties"]
        not_nullable = {k for k in fields if not properties[k].get("nullable")}
        assert not_nullable == set(), (name, not_nullable)
