"""Budgets (Finance and account managers, one per customer, alerts read-only) and
recurring allowances (Finance) in the admin: bad input refused on its field with nothing
stored; what may not change is read-only; nothing is deleted but a budget, by Finance."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from django.urls import reverse

from billing.models import Budget, BudgetAlert, RecurringGrant
from tests import factories as f
from tests.credit_helpers import grant
from tests.receivables_helpers import staff

pytestmark = pytest.mark.django_db

BUDGET_ADD = "/admin/billing/budget/add/"
RECURRING_ADD = "/admin/billing/recurringgrant/add/"


def errors(response, field):
    return " ".join(response.context["adminform"].form.errors.get(field, []))


@pytest.fixture
def manager(client):
    client.force_login(staff("Account managers"))
    return client


@pytest.fixture
def finance(client):
    client.force_login(staff("Finance"))
    return client


def budget_data(customer, **overrides):
    data = {"customer": customer.pk, "limit": "spend", "amount": "2500.00", "enforcement": "hard"}
    return data | overrides


def test_an_account_manager_sets_a_budget_and_sees_its_alerts(manager):
    customer = f.CustomerFactory(currency="GBP")
    assert manager.post(BUDGET_ADD, budget_data(customer)).status_code == 302
    budget = Budget.objects.get()
    assert (budget.customer, budget.amount, budget.enforcement) == (
        customer,
        D("2500.00"),
        "hard",
    )
    BudgetAlert.objects.create(
        budget=budget,
        period_starts_at=datetime(2026, 11, 1, tzinfo=UTC),
        threshold=80,
        used=D("2000.00"),
        limit=D("2500.00"),
        raised_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
    )
    page = manager.get(reverse("admin:billing_budget_change", args=[budget.pk]))
    html = page.content.decode()
    assert "80%" in html and "2,000.00" in html and "2,500.00" in html and "2026-11-01" in html
    assert "in GBP" in html  # the amount's help says the currency
    inline = page.context["inline_admin_formsets"][0]
    assert not inline.has_add_permission and not inline.has_change_permission
    assert "customer" not in page.context["adminform"].form.fields  # fixed once set
    listing = manager.get("/admin/billing/budget/").content.decode()
    assert "2,500.00 GBP" in listing
    delete = reverse("admin:billing_budget_delete", args=[budget.pk])
    assert manager.post(delete, {"post": "yes"}).status_code == 403
    assert Budget.objects.exists()


def test_finance_may_remove_a_budget(finance):
    budget = Budget.objects.create(customer=f.CustomerFactory(), amount=D("10.00"))
    delete = reverse("admin:billing_budget_delete", args=[budget.pk])
    assert finance.post(delete, {"post": "yes"}).status_code == 302
    assert not Budget.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount": ""}, "amount", "Give the most a period may charge, in JPY."),
        ({"amount": "-100"}, "amount", "The limit must be a positive amount."),
        ({"amount": "100.50"}, "amount", "Give the limit in JPY's minor unit (0 decimal"),
        ({"limit": "credits_only"}, "amount", "A credits-only budget has no amount"),
        ({"enforcement": "strict"}, "enforcement", "Select a valid choice."),
        ({"amount": "lots"}, "amount", "Enter a number."),
    ],
)
def test_bad_budgets_are_refused_on_their_field(manager, overrides, field, message):
    customer = f.CustomerFactory(currency="JPY")
    response = manager.post(BUDGET_ADD, budget_data(customer, **overrides))
    assert response.status_code == 200
    assert message in errors(response, field)
    assert not Budget.objects.exists()


def test_a_credits_only_budget_has_no_amount_and_one_budget_per_customer(manager):
    customer = f.CustomerFactory()
    data = budget_data(customer, limit="credits_only", amount="")
    assert manager.post(BUDGET_ADD, data).status_code == 302
    again = manager.post(BUDGET_ADD, budget_data(customer))
    assert "This customer has a budget already (one per customer)" in errors(again, "customer")
    assert Budget.objects.get().limit == "credits_only"


def recurring_data(customer, **overrides):
    return {
        "customer": customer.pk,
        "name": "Monthly allowance",
        "kind": "promotional",
        "unit": "money",
        "currency": "",
        "amount": "500.00",
        "every": "month",
        "starts_on": "2027-01-01",
        "ends_on": "2027-12-31",
        "valid_days": "31",
        "priority": "100",
        "active": "on",
    } | overrides


def test_finance_sets_up_a_monthly_allowance(finance):
    customer = f.CustomerFactory(currency="EUR")
    assert finance.post(RECURRING_ADD, recurring_data(customer)).status_code == 302
    allowance = RecurringGrant.objects.get()
    assert (allowance.currency, allowance.amount, allowance.starts_on) == (
        "EUR",
        D("500.00"),
        date(2027, 1, 1),
    )
    made = grant(customer, "500.00", name="January allowance", recurring=allowance)
    page = finance.get(reverse("admin:billing_recurringgrant_change", args=[allowance.pk]))
    html = page.content.decode()
    assert "January allowance" in html and "500.00 EUR" in html
    assert reverse("admin:billing_creditgrant_change", args=[made.pk]) in html
    form = page.context["adminform"].form
    assert {"customer", "unit", "currency", "outcome_definition"}.isdisjoint(form.fields)
    delete = reverse("admin:billing_recurringgrant_delete", args=[allowance.pk])
    assert finance.post(delete, {"post": "yes"}).status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"currency": "USD"}, "currency", "is invoiced in EUR"),
        ({"amount": "-5"}, "amount", "The amount must be a positive number."),
        ({"ends_on": "2026-12-01"}, "ends_on", "The last date is before the first"),
        ({"valid_days": "0"}, "valid_days", "A grant valid 0 days would expire as it starts"),
        ({"unit": "outcomes"}, "outcome_definition", "An outcome grant names the outcome"),
        ({"name": "\x00x"}, "name", "Null characters are not allowed."),
    ],
)
def test_bad_allowances_are_refused_on_their_field(finance, overrides, field, message):
    customer = f.CustomerFactory(currency="EUR")
    response = finance.post(RECURRING_ADD, recurring_data(customer, **overrides))
    assert response.status_code == 200
    assert message in errors(response, field)
    assert not RecurringGrant.objects.exists()


def test_account_managers_read_allowances_but_do_not_make_them(manager):
    customer = f.CustomerFactory()
    assert manager.post(RECURRING_ADD, recurring_data(customer)).status_code == 403
    allowance = RecurringGrant.objects.create(
        customer=customer, name="Monthly", currency="USD", amount=D("5"), starts_on=date.today()
    )
    page = manager.get(reverse("admin:billing_recurringgrant_change", args=[allowance.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert not RecurringGrant.objects.exclude(pk=allowance.pk).exists()
