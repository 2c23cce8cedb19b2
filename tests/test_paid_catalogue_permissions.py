"""Who may do what on Paid's v2 catalogue API, endpoint by endpoint: any valid key reads;
only an organisation key (one without an agent) creates, changes or deletes; no key, a
revoked key or an expired one is refused (401). A refused write changes nothing."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from agents.models import Agent
from billing.models import Price, PriceAgreement
from billing.services import period_close
from customers.models import Contact, Customer
from tests import factories as f
from tests.api_helpers import agent_key
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    billed = World(unit_price=D("2"))
    billed.signals(2)
    invoice = period_close(period_id=billed.period().pk)
    spare = f.CustomerFactory(external_id="cus_spare")
    contact = Contact.objects.create(customer=spare, email="a@spare.example", external_id="ct_1")
    return {
        "customer": spare.pk,
        "contact": contact.pk,
        "agent": billed.agent.pk,
        "agent_eid": billed.agent.external_id,
        "order": billed.agreement.pk,
        "invoice": invoice.pk,
        "billed": billed,
        "spare_order": f.PriceAgreementFactory(customer=f.CustomerFactory()).pk,
    }


def new_order(w):
    customer = f.CustomerFactory()
    return {
        "customerId": str(customer.pk),
        "startDate": "2026-01-01T00:00:00Z",
        "lines": [
            {
                "productId": str(w["agent"]),
                "attributes": [
                    {
                        "name": w["billed"].outcome.name,
                        "pricing": {
                            "eventName": "done",
                            "chargeType": "usage",
                            "pricingModel": "perUnit",
                            "pricePoints": {"unitPrice": 100},
                        },
                    }
                ],
            }
        ],
    }


# (method, path, body or a function of the world for it, status for an organisation key)
WRITES = [
    ("post", "customers/", {"name": "N", "email": "n@x.example", "externalId": "cus_new"}, 201),
    ("put", "customers/{customer}", {"name": "Renamed"}, 200),
    ("put", "customers/external/cus_spare", {"name": "Renamed"}, 200),
    ("delete", "customers/{customer}", None, 200),
    ("delete", "customers/external/cus_spare", None, 200),
    (
        "post",
        "contacts/",
        lambda w: {"customerId": str(w["customer"]), "email": "b@x.example"},
        201,
    ),
    ("put", "contacts/{contact}", {"firstName": "Ann"}, 200),
    ("put", "contacts/external/ct_1", {"firstName": "Ann"}, 200),
    ("delete", "contacts/{contact}", None, 200),
    ("delete", "contacts/external/ct_1", None, 200),
    ("post", "products/", {"name": "New", "externalId": "new-agent"}, 201),
    ("put", "products/{agent}", {"name": "Renamed"}, 200),
    ("put", "products/external/{agent_eid}", {"name": "Renamed"}, 200),
    ("post", "orders/", new_order, 201),
    ("put", "orders/{order}", {"name": "Renamed"}, 200),
    ("delete", "orders/{spare_order}", None, 200),
]
READS = [
    "customers/",
    "customers/{customer}",
    "customers/external/cus_spare",
    "contacts/",
    "contacts/{contact}",
    "contacts/external/ct_1",
    "products/",
    "products/{agent}",
    "products/external/{agent_eid}",
    "orders/",
    "orders/{order}",
    "orders/{order}/lines",
    "invoices/",
    "invoices/{invoice}",
    "invoices/{invoice}/lines",
]


def header_for(role: str, w) -> dict:
    if role == "no key":
        return {}
    if role == "organisation key":
        key = agent_key()
    elif role == "agent key":
        key = agent_key(agent=Agent.objects.get(pk=w["agent"]))
    elif role == "revoked key":
        key = agent_key(revoked=True)
    else:  # expired key
        key = agent_key(expiry_date=timezone.now() - timedelta(days=1))
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def call(client, method, path, data, w, header):
    url = "/api/v2/" + path.format(**w)
    kwargs = {"content_type": "application/json"} if data is not None else {}
    return getattr(client, method)(url, data=data, **kwargs, **header)


def state():
    return (
        list(Customer.objects.order_by("pk").values()),
        list(Contact.objects.order_by("pk").values()),
        list(Agent.objects.order_by("pk").values()),
        list(PriceAgreement.objects.order_by("pk").values()),
        Price.objects.count(),
    )


@pytest.mark.parametrize("method,path,body,ok", WRITES, ids=[f"{m} {p}" for m, p, *_ in WRITES])
@pytest.mark.parametrize(
    "role", ["organisation key", "agent key", "no key", "revoked key", "expired key"]
)
def test_only_an_organisation_key_writes(client, world, method, path, body, ok, role):
    header = header_for(role, world)
    data = body(world) if callable(body) else body
    before = state()
    response = call(client, method, path, data, world, header)
    expected = {"organisation key": ok, "agent key": 403}.get(role, 401)
    assert response.status_code == expected, response.content
    if role == "organisation key":
        assert state() != before
        return
    assert state() == before
    if role == "agent key":
        assert "organisation key" in response.json()["detail"]


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize(
    "role", ["organisation key", "agent key", "no key", "revoked key", "expired key"]
)
def test_any_valid_key_reads(client, world, path, role):
    response = call(client, "get", path, None, world, header_for(role, world))
    expected = 200 if role in ("organisation key", "agent key") else 401
    assert response.status_code == expected, response.content
    if expected == 401:
        assert response["WWW-Authenticate"] and "detail" in response.json()


def test_a_deactivated_agents_key_reads_nothing(client, world):
    agent = Agent.objects.get(pk=world["agent"])
    key = agent_key(agent=agent)
    agent.active = False
    agent.save()
    response = client.get("/api/v2/customers/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 403 and "deactivated" in response.json()["detail"]
