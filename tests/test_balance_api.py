"""GET /api/v1/customers/{external_id}/balance: who may read it (per role and key kind),
the same 404 for an unknown customer and another agent's (no existence leak), bad input
refused with nothing written, one query per request, and a body that is what the
OpenAPI schema documents."""

from datetime import timedelta
from decimal import Decimal as D

import jsonschema
import pytest
from django.contrib.auth.models import Group, User

from agents.models import StaffAPIKey
from billing.balance_refresh import balance_refresh
from billing.models import Budget
from tests import factories as f
from tests.api_helpers import agent_key
from tests.balance_helpers import T0, balance_get, clock, written_rows
from tests.billing_helpers import World
from tests.credit_helpers import grant
from tests.test_paid_catalogue_schema import json_schema

pytestmark = pytest.mark.django_db
LATER = T0 + timedelta(seconds=2)


@pytest.fixture
def world():
    w = World(unit_price=D("10.00"))
    grant(w.customer, "100.00", name="Annual")
    Budget.objects.create(customer=w.customer, amount=D("50.00"), enforcement="hard")
    w.signals(3)
    balance_refresh(now=T0)
    return w


def staff(role: str, *, is_staff: bool = True) -> User:
    user = User.objects.create_user(role.replace(" ", "-"), is_staff=is_staff)
    if role in ("Finance", "Account managers", "Viewers"):
        user.groups.add(Group.objects.get(name=role))
    return user


def token_of(user: User) -> str:
    return "Token " + StaffAPIKey.objects.create_key(name="t", user=user)[1]


def test_the_agent_that_bills_the_customer_reads_its_balance(client, world):
    body = balance_get(
        client, world.customer.external_id, at=LATER, auth=f"Bearer {agent_key(world.agent)}"
    ).json()
    # 3 x 10.00 = 30.00 of the 100.00 grant; 30.00 of the 50.00 hard spend limit.
    assert body == {
        "customer": world.customer.external_id,
        "currency": "USD",
        "allowed": True,
        "granted": "100.00",
        "used_closed": "0.00",
        "used_open": "30.00",
        "remaining": "70.00",
        "spend_open": "30.00",
        "overage_open": "0.00",
        "spend_period": "30.00",
        "period": {
            "starts_at": "2026-01-01T00:00:00+00:00",
            "ends_at": "2026-02-01T00:00:00+00:00",
        },
        "budget": {
            "limit": "spend",
            "enforcement": "hard",
            "amount": "50.00",
            "used": "30.00",
            "of": "50.00",
            "used_percent": "60.00",
        },
        "grants": [
            {
                "id": world.customer.credit_grants.get().pk,
                "name": "Annual",
                "kind": "paid",
                "unit": "money",
                "outcome_definition_id": None,
                "outcome": None,
                "amount": "100.00",
                "used_closed": "0.00",
                "used_open": "30.00",
                "available": "70.00",
                "value_open": "30.00",
                "effective_at": "2026-01-01T00:00:00+00:00",
                "expires_at": None,
                "applies_to_fees": False,
            }
        ],
        "as_of": T0.isoformat(),
        "age_seconds": 2.0,
        "lag_bound_seconds": 30,
    }


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("Finance token", 200),
        ("Account managers session", 200),
        ("Viewers token", 200),
        ("organisation key", 200),
        ("billing agent's key", 200),
        ("other agent's key", 404),
        ("deactivated agent's key", 403),
        ("staff in no group", 403),
        ("non-staff", 403),
        ("no key", 401),
        ("unknown key", 401),
    ],
)
def test_each_role_and_key_kind(client, world, who, status):
    auth = None
    if who.endswith("token"):
        auth = token_of(staff(who.removesuffix(" token")))
    elif who.endswith("session"):
        client.force_login(staff(who.removesuffix(" session")))
    elif who == "organisation key":
        auth = f"Bearer {agent_key()}"
    elif who == "billing agent's key":
        auth = f"Api-Key {agent_key(world.agent)}"
    elif who == "other agent's key":
        auth = f"Bearer {agent_key(f.AgentFactory(external_id='other'))}"
    elif who == "deactivated agent's key":
        auth = f"Bearer {agent_key(f.AgentFactory(active=False))}"
    elif who == "staff in no group":
        client.force_login(staff(who))
    elif who == "non-staff":
        auth = token_of(staff("Viewers", is_staff=False))
    elif who == "unknown key":
        auth = "Bearer nope.nope"
    before = written_rows()
    response = balance_get(client, world.customer.external_id, at=LATER, auth=auth)
    assert response.status_code == status, response.content
    assert written_rows() == before
    if status == 200:
        assert response.json()["remaining"] == "70.00"
    else:
        assert set(response.json()) == {"detail"}
    if who == "staff in no group":
        assert "billing.view_customerbalance" in response.json()["detail"]


def test_another_agents_customer_and_an_unknown_one_answer_alike(client, world):
    auth = f"Bearer {agent_key(f.AgentFactory(external_id='other'))}"
    theirs = balance_get(client, world.customer.external_id, at=LATER, auth=auth)
    unknown = balance_get(client, "cus_nobody", at=LATER, auth=auth)
    assert (theirs.status_code, unknown.status_code) == (404, 404)
    ext = world.customer.external_id
    assert theirs.json() == {
        "detail": f"No customer with external id '{ext}' billed by agent 'other'."
    }
    assert unknown.json() == {
        "detail": "No customer with external id 'cus_nobody' billed by agent 'other'."
    }
    assert theirs.headers.keys() == unknown.headers.keys()


def test_an_agent_billing_one_of_two_agreements_sees_the_customer(client, world):
    from tests.balance_helpers import second_agreement

    other = second_agreement(world, unit_price="5.00")
    response = balance_get(
        client, world.customer.external_id, at=LATER, auth=f"Bearer {agent_key(other.agent)}"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("external_id", "query", "status", "field"),
    [
        ("cus_nobody", {}, 404, None),
        ("a%00b", {}, 404, None),  # NUL: no such customer, never a database error
        ("x" * 300, {}, 404, None),
        ("{ext}", {"fields": "all"}, 400, "fields"),
    ],
)
def test_bad_input_is_a_4xx_and_writes_nothing(client, world, external_id, query, status, field):
    auth = token_of(staff("Finance"))
    before = written_rows()
    ext = external_id.format(ext=world.customer.external_id)
    response = balance_get(client, ext, at=LATER, auth=auth, **query)
    assert response.status_code == status
    assert written_rows() == before
    if field:
        assert response.json() == {field: ["Unknown parameter: this endpoint takes none."]}
    else:
        assert "No customer with external id" in response.json()["detail"]


def test_only_get_is_served(client, world):
    auth = token_of(staff("Finance"))
    response = client.post(
        f"/api/v1/customers/{world.customer.external_id}/balance", HTTP_AUTHORIZATION=auth
    )
    assert response.status_code == 405


def test_a_request_with_a_known_key_is_one_query(client, world, django_assert_num_queries):
    auth = f"Bearer {agent_key(world.agent)}"
    balance_get(client, world.customer.external_id, at=LATER, auth=auth)  # key verified
    with django_assert_num_queries(1):
        response = balance_get(client, world.customer.external_id, at=LATER, auth=auth)
    assert response.status_code == 200


def test_a_stale_balance_is_computed_not_stored(client, world):
    world.signals(3)  # 60.00: past the 50.00 hard limit, not refreshed yet
    auth = f"Bearer {agent_key(world.agent)}"
    assert balance_get(client, world.customer.external_id, at=LATER, auth=auth).json()["allowed"]
    before = written_rows()
    later = T0 + timedelta(seconds=31)
    body = balance_get(client, world.customer.external_id, at=later, auth=auth).json()
    assert (body["allowed"], body["spend_period"], body["as_of"]) == (
        False,
        "60.00",
        later.isoformat(),
    )
    assert written_rows() == before


def test_the_body_is_what_the_schema_documents(client, admin_client, world):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/customers/{external_id}/balance"]["get"]
    assert operation["operationId"] == "getCustomerBalance"
    assert {"200", "400", "401", "403", "404", "429", "503"} <= set(operation["responses"])
    auth = f"Bearer {agent_key(world.agent)}"
    body = balance_get(client, world.customer.external_id, at=LATER, auth=auth).json()
    documented = operation["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(body, json_schema({**documented, "components": schema["components"]}))
    balance = schema["components"]["schemas"]["BalanceOut"]
    assert set(balance["required"]) == set(body)


def test_the_paid_balances_are_what_the_schema_documents(client, admin_client, world):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    key = agent_key(world.agent)
    paths = {
        "/api/v2/customers/{id}/credits/balances": (
            "getCustomerCreditBalances",
            f"/api/v2/customers/{world.customer.pk}/credits/balances",
        ),
        "/api/v2/customers/external/{external_id}/credits/balances": (
            "getCustomerCreditBalancesByExternalId",
            f"/api/v2/customers/external/{world.customer.external_id}/credits/balances",
        ),
    }
    for path, (operation_id, url) in paths.items():
        operation = schema["paths"][path]["get"]
        assert operation["operationId"] == operation_id
        assert {"200", "400", "401", "403", "404", "429", "503"} <= set(operation["responses"])
        with clock(LATER):
            response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200
        documented = operation["responses"]["200"]["content"]["application/json"]["schema"]
        jsonschema.validate(
            response.json(), json_schema({**documented, "components": schema["components"]})
        )
        assert response.json()["data"][0]["available"] == 70


@pytest.mark.parametrize("raw", ["12abc", "1" * 30, "-1"])
def test_a_paid_id_that_names_nothing_is_a_404(client, world, raw):
    before = written_rows()
    response = client.get(
        f"/api/v2/customers/{raw}/credits/balances", HTTP_AUTHORIZATION=f"Bearer {agent_key()}"
    )
    assert response.status_code == 404
    assert response.json() == {"detail": f"No customer with id '{raw}'."}
    assert written_rows() == before


def test_the_lookup_is_prepared_on_postgres(client, world, on_postgres):
    """Planning the lookup took four times its execution: after a few requests it runs
    as a statement the connection prepared, and answers the same."""
    from django.db import connection

    auth = f"Bearer {agent_key(world.agent)}"
    bodies = [
        balance_get(client, world.customer.external_id, at=LATER, auth=auth).json()
        for _ in range(7)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("billing_customerbalance" in sql for sql in prepared)
    assert all(body["customer"] == world.customer.external_id for body in bodies)
    assert len({body["remaining"] for body in bodies}) == 1
