"""Paid's Python SDK reads a customer's credit balances (by our id and by external id):
the real SDK (paid-python) against a live server, the same figures as the v1 balance in
Paid's CreditBalance shape; another agent's customer is the same 404 as an unknown one."""

from datetime import UTC, datetime
from decimal import Decimal as D

import httpx
import pytest
from paid import Paid
from paid.errors import NotFoundError

from tests import factories as f
from tests.api_helpers import agent_key
from tests.balance_helpers import T0, clock
from tests.billing_helpers import World
from tests.credit_helpers import grant

FEB_15 = datetime(2026, 2, 15, tzinfo=UTC)


@pytest.fixture
def world(transactional_db):
    # up to 10 @ 2.00, above @ 1.00; 15 outcomes = 25.00.
    w = World(model="graduated", tiers=[(0, 10, D("2.00")), (10, None, D("1.00"))])
    grant(w.customer, "10.00", name="Promo", expires_at=datetime(2026, 3, 1, tzinfo=UTC))
    grant(
        w.customer,
        "12",
        unit="outcomes",
        outcome_definition=w.outcome,
        name="Docs",
        expires_at=FEB_15,
    )
    w.signals(15)
    return w


def sdk_for(server, key: str, http: httpx.Client) -> Paid:
    return Paid(token=key, base_url=f"{server.url}/api/v2", httpx_client=http)


def test_the_sdk_reads_the_balances_by_id_and_by_external_id(live_server, world):
    with httpx.Client(timeout=30) as http, clock(T0):
        customers = sdk_for(live_server, agent_key(world.agent), http).customers
        by_id = customers.get_customer_credit_balances(id=str(world.customer.pk))
        by_external = customers.get_customer_credit_balances_by_external_id(
            external_id=world.customer.external_id
        )
    assert by_id == by_external
    money, docs = by_id.data  # money first, then outcomes
    # Docs expires first: it covers the first 12 outcomes (10 x 2.00 + 2 x 1.00 = 22.00);
    # the promo draws the other 3.00 of the 25.00: 7.00 of it left.
    assert (money.credits_currency_id, money.currency_key, money.currency_name) == (
        "USD",
        "USD",
        "US Dollar",
    )
    assert (money.total, money.used, money.available) == (10, 3, 7)
    assert money.recipient == "organization"
    (promo,) = money.grants
    assert (promo.total, promo.used, promo.available) == (10, 3, 7)
    assert promo.expires_at == promo.period_end == datetime(2026, 3, 1, tzinfo=UTC)
    assert promo.period_start == datetime(2026, 1, 1, tzinfo=UTC)
    assert promo.is_in_rollover_window is False and promo.rollover_amount is None
    assert docs.credits_currency_id == f"outcomes-{world.outcome.pk}"
    assert docs.currency_name == f"{world.outcome.name} (outcomes)"
    assert (docs.total, docs.used, docs.available) == (12, 12, 0)
    assert docs.grants[0].expires_at == docs.period_end == FEB_15
    extra = by_id.model_extra or {}
    assert extra["allowed"] is True and extra["lagBoundSeconds"] == 30
    assert extra["asOf"] == T0.isoformat() and extra["ageSeconds"] == 0


def test_a_customer_without_credits_has_no_balances(live_server, world):
    bare = f.CustomerFactory()
    with httpx.Client(timeout=30) as http, clock(T0):
        customers = sdk_for(live_server, agent_key(), http).customers  # organisation key
        assert customers.get_customer_credit_balances(id=str(bare.pk)).data == []


@pytest.mark.parametrize("form", ["id", "external id"])
def test_another_agents_customer_is_not_found_like_an_unknown_one(live_server, world, form):
    other = f.AgentFactory(external_id="other")
    with httpx.Client(timeout=30) as http, clock(T0):
        customers = sdk_for(live_server, agent_key(other), http).customers
        if form == "id":
            calls = [
                lambda: customers.get_customer_credit_balances(id=str(world.customer.pk)),
                lambda: customers.get_customer_credit_balances(id="999999"),
            ]
        else:
            calls = [
                lambda: customers.get_customer_credit_balances_by_external_id(
                    external_id=world.customer.external_id
                ),
                lambda: customers.get_customer_credit_balances_by_external_id(
                    external_id="cus_nobody"
                ),
            ]
        bodies = []
        for call in calls:
            with pytest.raises(NotFoundError) as refused:
                call()
            bodies.append(refused.value.body["detail"])
    label = "id" if form == "id" else "external id"
    assert bodies[0].startswith(f"No customer with {label} ")
    assert all(b.endswith(" billed by agent 'other'.") for b in bodies)
