"""Credit grants in the admin: Finance creates one through the form (grant_problems'
messages on their fields, nothing stored on bad input; grant_create writes the opening
ledger entry); what was granted is fixed afterwards and `remaining` is never written by
the form; the ledger is a read-only inline; nobody deletes a grant. Every role."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from billing.admin.credit_grants import CreditGrantAdmin
from billing.models import CreditGrant, CreditLedgerEntry
from billing.services import period_close
from tests import factories as f
from tests.api_helpers import agent_key
from tests.billing_helpers import World
from tests.credit_helpers import grant
from tests.receivables_helpers import staff

pytestmark = pytest.mark.django_db

ADD = "/admin/billing/creditgrant/add/"


def change_url(g):
    return reverse("admin:billing_creditgrant_change", args=[g.pk])


def form_data(customer, /, **overrides):
    data = {
        "customer": customer.pk,
        "name": "2027 commitment",
        "kind": "paid",
        "source": "admin",
        "unit": "money",
        "currency": "",
        "amount": "1200.00",
        "effective_at_0": "2027-01-01",
        "effective_at_1": "00:00:00",
        "expires_at_0": "2028-01-01",
        "expires_at_1": "00:00:00",
        "priority": "100",
        "note": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def finance(client):
    client.force_login(staff("Finance"))
    return client


def inline_management(client, g) -> dict:
    """The ledger inline's hidden fields, as the browser sends them back."""
    html = client.get(change_url(g)).content.decode()
    return dict(re.findall(r'<input type="hidden" name="(entries-[^"]+)" value="([^"]*)"', html))


def field_errors(response, field):
    return response.context["adminform"].form.errors.get(field)


def test_finance_creates_a_grant_and_its_opening_ledger_entry(finance):
    customer = f.CustomerFactory(currency="EUR", external_id="cus_acme")
    response = finance.post(ADD, form_data(customer))
    assert response.status_code == 302
    g = CreditGrant.objects.get()
    # The empty currency is the customer's; the whole amount is left.
    assert (g.currency, g.amount, g.remaining) == ("EUR", D("1200.00"), D("1200.00"))
    assert g.source == "admin" and g.created_by.username == "finance"
    assert g.effective_at == datetime(2027, 1, 1, tzinfo=UTC)
    (entry,) = CreditLedgerEntry.objects.all()
    assert (entry.grant, entry.kind, entry.amount, entry.balance_after) == (
        g,
        "grant",
        D("1200.00"),
        D("1200.00"),
    )
    page = finance.get(change_url(g)).content.decode()
    assert "1,200.00 EUR" in page  # the amount, the remaining and the ledger


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"currency": "USD"}, "currency", "is invoiced in EUR: a grant in USD could never"),
        ({"amount": "-50.00"}, "amount", "The amount must be a positive number."),
        ({"amount": "0"}, "amount", "The amount must be a positive number."),
        ({"amount": "12.345"}, "amount", "EUR has 2 decimal places: round the amount"),
        ({"amount": "lots"}, "amount", "Enter a number."),
        (
            {"expires_at_0": "2026-12-31"},
            "expires_at",
            "The expiry must be after the effective date.",
        ),
        ({"expires_at_0": "2027-01-01"}, "expires_at", "The expiry must be after"),
        ({"unit": "outcomes"}, "outcome_definition", "An outcome grant names the outcome"),
        ({"purchase_price": "100.00"}, "purchase_price", "Only a top-up is invoiced"),
        ({"source": "api"}, "source", "Select a valid choice."),
        ({"name": "  "}, "name", "This field is required."),
        ({"customer": "999999"}, "customer", "Select a valid choice."),
    ],
)
def test_bad_input_is_refused_on_its_field_and_nothing_is_stored(
    finance, overrides, field, message
):
    customer = f.CustomerFactory(currency="EUR")
    response = finance.post(ADD, form_data(customer, **overrides))
    assert response.status_code == 200
    assert message in " ".join(field_errors(response, field)), field_errors(response, field)
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not CreditGrant.objects.exists() and not CreditLedgerEntry.objects.exists()


def test_a_grant_in_another_currency_than_the_agreement_is_refused(finance):
    w = World(currency="USD")
    w.agreement.currency = "GBP"  # an agreement out of step with its customer
    w.agreement.save()
    response = finance.post(ADD, form_data(w.customer, currency="USD"))
    assert "is not in USD" in " ".join(field_errors(response, "currency"))
    assert not CreditGrant.objects.exists()


def test_finance_creates_a_top_up_with_its_purchase_price(finance):
    customer = World(currency="USD").customer  # an agreement whose next invoice bills it
    data = form_data(
        customer, source="top_up", purchase_price="900.00", expires_at_0="", expires_at_1=""
    )
    assert finance.post(ADD, data).status_code == 302
    g = CreditGrant.objects.get()
    assert (g.source, g.purchase_price, g.expires_at) == ("top_up", D("900.00"), None)


def test_a_top_up_no_invoice_would_bill_is_refused_and_nothing_stored(finance):
    customer = f.CustomerFactory(currency="USD", external_id="cus_none")
    data = form_data(
        customer, source="top_up", purchase_price="900.00", expires_at_0="", expires_at_1=""
    )
    response = finance.post(ADD, data)
    assert response.status_code == 200
    assert "cus_none has no agreement whose next invoice would bill" in response.content.decode()
    assert not CreditGrant.objects.exists() and not CreditLedgerEntry.objects.exists()


def test_what_was_granted_is_fixed_and_the_form_never_writes_remaining(finance, monkeypatch):
    customer = f.CustomerFactory(currency="USD")
    g = grant(customer, "500.00", expires_at=datetime(2027, 1, 1, tzinfo=UTC))
    form = finance.get(change_url(g)).context["adminform"].form
    assert set(form.fields) == {
        "name",
        "note",
        "effective_at",
        "expires_at",
        "priority",
        "applies_to_fees",
    }
    # The page was read with 500.00 left; a close draws 200.00 before it is saved.
    stale = CreditGrant.objects.get(pk=g.pk)
    CreditGrant.objects.filter(pk=g.pk).update(remaining=D("300.00"))
    monkeypatch.setattr(CreditGrantAdmin, "get_object", lambda *args, **kwargs: stale)
    data = {
        **inline_management(finance, g),
        "name": "Renamed",
        "note": "",
        "effective_at_0": "2026-01-01",
        "effective_at_1": "00:00:00",
        "expires_at_0": "2027-06-30",
        "expires_at_1": "00:00:00",
        "priority": "5",
        # Fields the form does not have are ignored, not written.
        "amount": "99999",
        "remaining": "99999",
        "currency": "EUR",
        "customer": f.CustomerFactory().pk,
    }
    assert finance.post(change_url(g), data).status_code == 302
    g.refresh_from_db()
    assert (g.name, g.priority, g.expires_at) == (
        "Renamed",
        5,
        datetime(2027, 6, 30, tzinfo=UTC),
    )
    assert (g.amount, g.remaining, g.currency, g.customer) == (
        D("500.00"),
        D("300.00"),
        "USD",
        customer,
    )
    assert g.history.first().remaining == D("300.00")  # the history is not stale either


def test_a_changed_expiry_before_the_effective_date_is_refused(finance):
    g = grant(f.CustomerFactory(), "500.00")
    data = {
        **inline_management(finance, g),
        "name": g.name,
        "effective_at_0": "2026-01-01",
        "effective_at_1": "00:00:00",
        "expires_at_0": "2025-12-01",
        "expires_at_1": "00:00:00",
        "priority": "100",
    }
    response = finance.post(change_url(g), data)
    assert "The expiry must be after the effective date." in field_errors(response, "expires_at")
    g.refresh_from_db()
    assert g.expires_at is None


def drawn_world():
    """A grant of 500.00 drawn 300.00 by January's invoice (3 outcomes at 100.00)."""
    w = World(unit_price=D("100.00"))
    g = grant(w.customer, "500.00", name="Annual", expires_at=datetime(2027, 1, 1, tzinfo=UTC))
    w.signals(3)
    invoice = period_close(period_id=w.period(1).pk)
    return w, g, invoice


def test_the_ledger_inline_shows_entries_in_the_grants_unit_and_links_the_invoice(finance):
    _, g, invoice = drawn_world()
    page = finance.get(change_url(g))
    html = page.content.decode()
    assert "-300.00 USD" in html and "200.00 USD" in html  # drawn, balance after
    assert reverse("admin:billing_invoice_change", args=[invoice.pk]) in html
    assert invoice.number in html
    assert "300.00000000" not in html
    # Drawn: the effective date is fixed too; the expiry may still move.
    form = page.context["adminform"].form
    assert "effective_at" not in form.fields and "expires_at" in form.fields
    inline = page.context["inline_admin_formsets"][0]
    assert not inline.has_add_permission and not inline.has_change_permission


def test_an_outcome_grant_shows_outcomes(finance):
    w = World(unit_price=D("2.00"))
    g = grant(w.customer, "100", unit="outcomes", outcome_definition=w.outcome)
    html = finance.get(change_url(g)).content.decode()
    assert "100 outcomes" in html


def test_nobody_deletes_a_grant(finance, admin_client):
    g = grant(f.CustomerFactory(), "10.00")
    delete = reverse("admin:billing_creditgrant_delete", args=[g.pk])
    assert finance.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    listing = admin_client.get("/admin/billing/creditgrant/").content.decode()
    assert "delete_selected" not in listing
    assert CreditGrant.objects.filter(pk=g.pk).exists()


def test_the_list_shows_amounts_as_money_and_links_each_customers_credits(finance):
    customer = f.CustomerFactory(currency="JPY", name="Tokyo Co")
    g = grant(customer, "383230")
    html = finance.get("/admin/billing/creditgrant/").content.decode()
    assert "383,230 JPY" in html
    assert reverse("admin:billing_creditgrant_customer", args=[customer.pk]) in html
    assert reverse("admin:billing_creditgrant_running_out") in html
    filtered = finance.get("/admin/billing/creditgrant/", {"customer": customer.external_id})
    assert list(filtered.context["cl"].result_list) == [g]
    live = finance.get("/admin/billing/creditgrant/", {"state": "live"})
    assert list(live.context["cl"].result_list) == [g]


# --- Every role, every page ---------------------------------------------------------------
def pages(g):
    customer_credits = reverse("admin:billing_creditgrant_customer", args=[g.customer_id])
    return {
        "grant list": "/admin/billing/creditgrant/",
        "grant page": change_url(g),
        "grant add": ADD,
        "credits page": customer_credits,
        "running out": reverse("admin:billing_creditgrant_running_out"),
        "ledger": "/admin/billing/creditledgerentry/",
        "recurring list": "/admin/billing/recurringgrant/",
        "recurring add": "/admin/billing/recurringgrant/add/",
        "budget list": "/admin/billing/budget/",
        "budget add": "/admin/billing/budget/add/",
        "alerts": "/admin/billing/budgetalert/",
    }


EXPECTED = {
    "Finance": dict.fromkeys(
        [
            "grant list",
            "grant page",
            "grant add",
            "credits page",
            "running out",
            "ledger",
            "recurring list",
            "recurring add",
            "budget list",
            "budget add",
            "alerts",
        ],
        200,
    ),
    "Account managers": {
        **dict.fromkeys(
            [
                "grant list",
                "grant page",
                "credits page",
                "running out",
                "ledger",
                "recurring list",
                "budget list",
                "budget add",
                "alerts",
            ],
            200,
        ),
        "grant add": 403,
        "recurring add": 403,
    },
    "Viewers": {
        **dict.fromkeys(
            [
                "grant list",
                "grant page",
                "credits page",
                "running out",
                "ledger",
                "recurring list",
                "budget list",
                "alerts",
            ],
            200,
        ),
        "grant add": 403,
        "recurring add": 403,
        "budget add": 403,
    },
}


@pytest.mark.parametrize("role", ["Finance", "Account managers", "Viewers"])
def test_each_group_sees_what_it_may(client, role):
    g = grant(f.CustomerFactory(), "10.00")
    client.force_login(staff(role))
    got = {name: client.get(url).status_code for name, url in pages(g).items()}
    assert got == EXPECTED[role]


def test_only_finance_saves_a_grant(client):
    g = grant(f.CustomerFactory(), "10.00")
    client.force_login(staff("Account managers"))
    page = client.get(change_url(g)).content.decode()
    assert 'name="_save"' not in page
    data = {"name": "Mine now", "priority": "1"}
    assert client.post(change_url(g), data).status_code == 403
    assert client.post(ADD, form_data(g.customer)).status_code == 403
    g.refresh_from_db()
    assert g.name == "Grant 10.00" and CreditGrant.objects.count() == 1


def test_staff_without_permissions_and_anonymous_see_nothing(client):
    g = grant(f.CustomerFactory(), "10.00")
    client.force_login(User.objects.create_user("nobody", is_staff=True))
    for name, url in pages(g).items():
        assert client.get(url).status_code == 403, name
    client.logout()
    for name, url in pages(g).items():
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], name


def test_an_agent_key_does_not_open_the_admin(client):
    g = grant(f.CustomerFactory(), "10.00")
    key = agent_key(f.AgentFactory())
    for name, url in pages(g).items():
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 302 and "/admin/login/" in response["Location"], name


def test_the_customer_page_links_its_credits_for_those_who_may_see_them(client):
    customer = f.CustomerFactory()
    url = reverse("admin:billing_creditgrant_customer", args=[customer.pk])
    customer_page = reverse("admin:customers_customer_change", args=[customer.pk])
    client.force_login(staff("Account managers"))
    assert url in client.get(customer_page).content.decode()


def test_the_add_form_starts_from_the_customer_of_the_credits_page(finance):
    customer = f.CustomerFactory()
    form = finance.get(ADD, {"customer": customer.pk}).context["adminform"].form
    assert str(form.initial["customer"]) == str(customer.pk)
    assert form.initial["effective_at"] <= datetime.now(UTC) + timedelta(seconds=1)
