"""The staff API applies the admin's model permissions: reading needs the model's `view_`
permission and staff status. Superusers and the three groups (Finance, Account managers,
Viewers) read every staff endpoint, JSON and CSV, with a session or a token; a staff user
in no group, a non-staff user (even one holding the permissions) and an anonymous client
are refused, on the API as in the admin."""

from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.urls import URLPattern, get_resolver, reverse

from agents.models import Agent, Cost, Signal, StaffAPIKey
from billing.models import Invoice, MarginFigure
from billing.services import period_close
from customers.models import Customer
from tests import factories as f
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db

READERS = ["superuser", "Finance", "Account managers", "Viewers"]
REFUSED = ["staff in no group", "non-staff in Viewers", "anonymous"]

# (url name, the model whose row a detail url shows or None for a list, query)
API = [
    ("signal-list", None, {}),
    ("signal-detail", Signal, {}),
    ("cost-list", None, {}),
    ("cost-detail", Cost, {}),
    ("agent-list", None, {}),
    ("agent-detail", Agent, {}),
    ("customer-list", None, {}),
    ("customer-detail", Customer, {}),
    ("margin-list", None, {}),
    ("margin-list", None, {"format": "csv"}),
    ("margin-detail", MarginFigure, {}),
    ("invoice-list", None, {}),
    ("invoice-list", None, {"format": "csv"}),
    ("invoice-detail", Invoice, {}),
]
ADMIN_CSV = ["margin dashboard csv", "invoice lines csv"]


@pytest.fixture
def world():
    w = World(unit_price=D("10"))
    for signal in w.signals(2):
        f.CostFactory(agent=w.agent, customer=w.customer, signal=signal, amount=D("0.5"))
    invoice = period_close(period_id=w.period().pk)
    assert MarginFigure.objects.live().exists()
    return invoice


def user_as(role: str) -> User | None:
    if role == "anonymous":
        return None
    if role == "superuser":
        return User.objects.create_superuser("root", password="x-123456-y")
    user = User.objects.create_user(
        role.replace(" ", "-"), password="x-123456-y", is_staff=role != "non-staff in Viewers"
    )
    if role in ("Finance", "Account managers", "Viewers", "non-staff in Viewers"):
        user.groups.add(Group.objects.get(name=role.removeprefix("non-staff in ")))
    return user


def url_of(name: str, model, query: dict) -> str:
    path = reverse(name, args=[model.objects.order_by("pk").first().pk] if model else [])
    return path + ("?format=csv" if query.get("format") == "csv" else "")


def admin_url(name: str, invoice: Invoice) -> str:
    if name == "margin dashboard csv":
        return "/admin/billing/marginfigure/?export=csv"
    return f"/admin/billing/invoice/{invoice.pk}/csv/"


def api_ids(entry):
    name, _, query = entry
    return name + (" csv" if query else "")


@pytest.mark.parametrize("role", READERS + REFUSED)
@pytest.mark.parametrize(("name", "model", "query"), API, ids=[api_ids(e) for e in API])
def test_each_role_on_each_staff_endpoint(client, world, role, name, model, query):
    user = user_as(role)
    if user:
        client.force_login(user)
    response = client.get(url_of(name, model, query))
    if role in READERS:
        assert response.status_code == 200, response.content
        expected = "text/csv" if query else "application/json"
        assert response["Content-Type"].startswith(expected)
    else:
        # Only the reason, in JSON or as a CSV row of its own ("detail"), never the rows.
        assert response.status_code in (401, 403), response.content
        assert b"detail" in response.content and b"period_start" not in response.content


@pytest.mark.parametrize("role", READERS + REFUSED)
@pytest.mark.parametrize("name", ADMIN_CSV)
def test_each_role_on_the_admins_csv_exports(client, world, role, name):
    user = user_as(role)
    if user:
        client.force_login(user)
    response = client.get(admin_url(name, world))
    if role in READERS:
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
    else:
        # The admin sends the anonymous and the non-staff to its login page.
        assert response.status_code == (403 if role == "staff in no group" else 302)
        assert not response["Content-Type"].startswith("text/csv")


TOKEN_ROLES = [("Viewers", 200), ("staff in no group", 403), ("non-staff in Viewers", 403)]


@pytest.mark.parametrize(("role", "status"), TOKEN_ROLES)
@pytest.mark.parametrize(("name", "model", "query"), API, ids=[api_ids(e) for e in API])
def test_tokens_carry_the_same_permissions(client, world, role, status, name, model, query):
    token = StaffAPIKey.objects.create_key(name="t", user=user_as(role))[1]
    response = client.get(url_of(name, model, query), HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == status


@pytest.mark.parametrize("method", ["get", "head", "options"])
def test_every_reading_method_needs_the_view_permission(client, world, method):
    client.force_login(user_as("staff in no group"))
    assert getattr(client, method)("/api/v1/invoices").status_code == 403
    client.force_login(user_as("Viewers"))
    assert getattr(client, method)("/api/v1/invoices").status_code == 200


def test_refusal_says_which_permission_is_missing(client, world):
    client.force_login(user_as("staff in no group"))
    detail = client.get("/api/v1/margins").json()["detail"]
    assert "billing.view_marginfigure" in detail and "Viewers" in detail
    client.force_login(user_as("non-staff in Viewers"))
    assert "staff status" in client.get("/api/v1/margins").json()["detail"]


def test_a_single_view_permission_opens_that_model_only(client, world):
    user = user_as("staff in no group")
    user.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    client.force_login(user)
    assert client.get("/api/v1/invoices").status_code == 200
    assert client.get("/api/v1/invoices", {"format": "csv"}).status_code == 200
    for other in ["/api/v1/margins", "/api/v1/signals", "/api/v1/customers"]:
        assert client.get(other).status_code == 403, other


def test_the_table_names_every_staff_read_endpoint():
    # A new router endpoint must be added to API above (and so be tested for every role).
    names = set()
    for pattern in get_resolver().url_patterns:
        for sub in getattr(pattern, "url_patterns", []):
            if isinstance(sub, URLPattern) and sub.name and sub.name.endswith(("-list", "-detail")):
                names.add(sub.name)
    assert names == {name for name, _, _ in API}
