"""PUT, DELETE and activate on /api/v2/orders/{id}, without the SDK: prices change only
while nothing was billed (409 after), bad input is refused naming the field and changes
nothing, agents' keys cannot write (403) and a missing key is a 401."""

from datetime import date
from decimal import Decimal as D

import pytest

from billing.models import Price, PriceAgreement, PriceTier
from billing.services import period_close
from tests.api_helpers import agent_key
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


def line(w, unit_price=250):
    return {
        "productId": str(w.agent.pk),
        "attributes": [
            {
                "name": w.outcome.name,
                "pricing": {
                    "eventName": "done",
                    "chargeType": "usage",
                    "pricingModel": "perUnit",
                    "pricePoints": {"unitPrice": unit_price},
                },
            }
        ],
    }


def send(client, method, w, body=None, key=None, suffix=""):
    key = key or agent_key()
    url = f"/api/v2/orders/{w.agreement.pk}{suffix}"
    extra = {"content_type": "application/json"} if body is not None else {}
    return getattr(client, method)(url, data=body, HTTP_AUTHORIZATION=f"Bearer {key}", **extra)


def stored(w):
    return (
        list(PriceAgreement.objects.filter(pk=w.agreement.pk).values()),
        list(Price.objects.filter(agreement=w.agreement).values()),
    )


@pytest.fixture
def world():
    return World(unit_price=D("2"))


@pytest.fixture
def billed(world):
    world.signals(2)
    period_close(period_id=world.period().pk)
    return world


def test_an_unbilled_orders_prices_are_replaced_and_audited(client, world):
    response = send(client, "put", world, {"lines": [line(world, 250)]})
    assert response.status_code == 200, response.content
    price = Price.objects.get(agreement=world.agreement)
    assert price.unit_price == D("2.50") and price.pk != world.price.pk
    assert (
        "Paid API"
        in Price.history.filter(id=world.price.pk, history_type="-").get().history_change_reason
    )
    assert not PriceTier.objects.exists()


def test_a_billed_orders_prices_do_not_change(client, billed):
    before = stored(billed)
    response = send(client, "put", billed, {"lines": [line(billed, 250)]})
    assert response.status_code == 409
    assert "period boundary" in response.json()["detail"]
    assert stored(billed) == before


def test_a_billed_order_is_not_deleted(client, billed):
    response = send(client, "delete", billed)
    assert response.status_code == 409
    assert "end date" in response.json()["detail"]
    assert PriceAgreement.objects.filter(pk=billed.agreement.pk).exists()


def test_a_billed_order_is_still_renamed(client, billed):
    response = send(client, "put", billed, {"name": "Renamed", "paymentTerms": "net 60"})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["paymentTerms"]) == ("Renamed", "net 60")


@pytest.mark.parametrize(
    "body,status,field",
    [
        ({"endDate": "2026-03-01T12:00:00Z"}, 422, "endDate"),
        ({"endDate": "2025-12-01T00:00:00Z"}, 422, "endDate"),
        ({"paymentTerms": "whenever"}, 422, "paymentTerms"),
        ({"creationState": "draft"}, 422, "creationState"),
        ({"currency": "EUR"}, 422, "currency"),
        ({"customerId": "999999"}, 422, "customerId"),
        ({"colour": "red"}, 400, "colour"),
        ({"name": 5}, 400, "name"),
        ({"lines": [{"productId": "999999", "attributes": []}]}, 400, "lines[0].productId"),
    ],
)
def test_bad_changes_are_refused_naming_the_field_and_change_nothing(
    client, world, body, status, field
):
    before = stored(world)
    response = send(client, "put", world, body)
    assert response.status_code == status, response.content
    assert field in response.json()
    assert stored(world) == before


def test_unknown_orders_are_404s(client, world):
    key = agent_key()
    for method, suffix in (("put", ""), ("delete", ""), ("post", "/activate")):
        url = f"/api/v2/orders/999999{suffix}"
        extra = {"content_type": "application/json", "data": {}} if method == "put" else {}
        response = getattr(client, method)(url, HTTP_AUTHORIZATION=f"Bearer {key}", **extra)
        assert response.status_code == 404, (method, response.content)


@pytest.mark.parametrize(
    "method,suffix,body",
    [("put", "", {"name": "X"}), ("delete", "", None), ("post", "/activate", None)],
)
def test_agent_keys_and_missing_keys_cannot_write(client, world, method, suffix, body):
    before = stored(world)
    as_agent = send(client, method, world, body, key=agent_key(agent=world.agent), suffix=suffix)
    revoked = send(client, method, world, body, key=agent_key(revoked=True), suffix=suffix)
    url = f"/api/v2/orders/{world.agreement.pk}{suffix}"
    anonymous = getattr(client, method)(url)
    assert (as_agent.status_code, revoked.status_code, anonymous.status_code) == (403, 401, 401)
    assert stored(world) == before


def test_a_billed_period_cut_short_by_the_end_is_not_extended(client):
    w = World(unit_price=D("2"), agreement_kwargs={"ends_on": date(2026, 1, 15)})
    period_close(period_id=w.period().pk)
    response = send(client, "put", w, {"endDate": "2026-03-01T00:00:00Z"})
    assert response.status_code == 409
    assert "create a new order" in response.json()["endDate"][0]
    assert PriceAgreement.objects.get(pk=w.agreement.pk).ends_on == date(2026, 1, 15)
