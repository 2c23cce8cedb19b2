"""The account manager edits an agreement, its prices and their tiers on one page,
and gets a message at the field for bad tiers or overlapping agreements; nothing
partial is saved."""

from datetime import date

import pytest
from django.contrib.auth.models import Group, User

from billing.models import Price, PriceAgreement, PriceTier
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client):
    user = User.objects.create_user("am", password="pw-am-123456", is_staff=True)
    user.groups.add(Group.objects.get(name="Account managers"))
    client.force_login(user)
    return client


def agreement_post(customer, outcome, tiers, model="graduated", starts_on="2026-01-01", **extra):
    data = {
        "customer": customer.pk,
        "name": "Deal",
        "currency": "USD",
        "starts_on": starts_on,
        "ends_on": "",
        "cadence": "monthly",
        "platform_fee": "0",
        "minimum_commitment": "0",
        "spend_cap": "",
        "grace_period": "1 00:00:00",
        "payment_terms_days": "30",
        "margin_target": "",
        "dispute_window_days": "30",
        "dispute_auto_accept_up_to": "",
        "notes": "",
        "prices-TOTAL_FORMS": "1",
        "prices-INITIAL_FORMS": "0",
        "prices-MIN_NUM_FORMS": "0",
        "prices-MAX_NUM_FORMS": "1000",
        "prices-0-outcome_definition": outcome.pk,
        "prices-0-model": model,
        "prices-0-unit_price": "",
        "prices-0-included_quantity": "0",
        "prices-0-percent_of_value": "",
        "prices-0-value_field": "",
        "prices-0-markup_percent": "",
        "prices-0-tiers-TOTAL_FORMS": str(len(tiers)),
        "prices-0-tiers-INITIAL_FORMS": "0",
        "prices-0-tiers-MIN_NUM_FORMS": "0",
        "prices-0-tiers-MAX_NUM_FORMS": "1000",
        **extra,
    }
    for i, (lo, hi, unit) in enumerate(tiers):
        data[f"prices-0-tiers-{i}-from_quantity"] = lo
        data[f"prices-0-tiers-{i}-up_to_quantity"] = hi
        data[f"prices-0-tiers-{i}-unit_price"] = unit
    return data


URL = "/admin/billing/priceagreement/add/"


def tier_errors(response):
    errors = []
    for formset in response.context["inline_admin_formsets"]:
        for form in formset.formset.forms:
            for nested in getattr(form, "nested_formsets", []):
                errors += [e for e in nested.errors if e] + list(nested.non_form_errors())
    return errors


def test_graduated_agreement_with_tiers_saved_in_one_page(manager_client):
    customer, outcome = f.CustomerFactory(), f.OutcomeDefinitionFactory()
    data = agreement_post(customer, outcome, [("0", "100", "1.00"), ("100", "", "0.80")])
    response = manager_client.post(URL, data)
    assert response.status_code == 302, response.context and tier_errors(response)
    price = Price.objects.get(agreement__customer=customer)
    assert [(t.from_quantity, t.up_to_quantity, t.unit_price) for t in price.tiers.all()] == [
        (0, 100, 1),
        (100, None, __import__("decimal").Decimal("0.80")),
    ]
    assert price.history.count() == 1 and price.agreement.history.count() == 1


@pytest.mark.parametrize(
    ("tiers", "field", "text"),
    [
        ([("0", "100", "1"), ("50", "", "0.8")], "from_quantity", "overlaps"),
        ([("0", "100", "1"), ("150", "", "0.8")], "from_quantity", "Gap"),
        (
            [("0", "100", "1"), ("200", "", "0.5"), ("100", "200", "0.8")],
            "from_quantity",
            "ascending",
        ),
        ([("0", "", "-1")], "unit_price", "0"),
        ([("5", "", "1")], "from_quantity", "start at 0"),
    ],
)
def test_bad_tiers_rejected_at_the_field_and_nothing_saved(manager_client, tiers, field, text):
    customer, outcome = f.CustomerFactory(), f.OutcomeDefinitionFactory()
    response = manager_client.post(URL, agreement_post(customer, outcome, tiers))
    assert response.status_code == 200
    errors = tier_errors(response)
    assert any(text in " ".join(e.get(field, [])) for e in errors if isinstance(e, dict)), errors
    assert not PriceAgreement.objects.exists() and not PriceTier.objects.exists()


def test_tiered_price_without_tiers_rejected(manager_client):
    customer, outcome = f.CustomerFactory(), f.OutcomeDefinitionFactory()
    response = manager_client.post(URL, agreement_post(customer, outcome, [], model="volume"))
    assert response.status_code == 200
    assert any("needs at least one tier" in e for e in tier_errors(response))
    assert not PriceAgreement.objects.exists()


def test_overlapping_agreement_rejected_at_outcome_field(manager_client):
    customer, outcome = f.CustomerFactory(), f.OutcomeDefinitionFactory()
    existing = f.PriceAgreementFactory(
        customer=customer, name="Old deal", starts_on=date(2025, 1, 1)
    )
    f.PriceFactory(agreement=existing, outcome_definition=outcome)
    data = agreement_post(
        customer, outcome, [], model="per_outcome", **{"prices-0-unit_price": "2"}
    )
    response = manager_client.post(URL, data)
    assert response.status_code == 200
    form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert "Old deal" in " ".join(form.errors["outcome_definition"])
    assert PriceAgreement.objects.count() == 1


def test_per_outcome_without_unit_price_rejected_at_field(manager_client):
    customer, outcome = f.CustomerFactory(), f.OutcomeDefinitionFactory()
    response = manager_client.post(URL, agreement_post(customer, outcome, [], model="per_outcome"))
    form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert "unit price" in " ".join(form.errors["unit_price"])


def test_volume_tiers_that_drop_are_saved_with_a_warning(manager_client):
    customer, outcome = f.CustomerFactory(), f.OutcomeDefinitionFactory()
    data = agreement_post(
        customer, outcome, [("0", "100", "1.00"), ("100", "", "0.50")], model="volume"
    )
    response = manager_client.post(URL, data, follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert any("drops at 101 outcomes (100 cost 100.00" in m for m in messages), messages


def test_negative_platform_fee_and_reversed_dates_rejected(manager_client):
    customer, outcome = f.CustomerFactory(), f.OutcomeDefinitionFactory()
    data = agreement_post(
        customer, outcome, [("0", "", "1")], platform_fee="-5", ends_on="2025-06-01"
    )
    response = manager_client.post(URL, data)
    errors = response.context["adminform"].form.errors
    assert "platform_fee" in errors and "ends_on" in errors
    assert not PriceAgreement.objects.exists()
