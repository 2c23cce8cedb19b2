"""Paid's Python SDK manages our customers and contacts: the real SDK (paid-python)
against a live server, and what it stores and reads back."""

from datetime import UTC, datetime

import httpx
import pytest
from paid import Paid
from paid.core.api_error import ApiError
from paid.errors import NotFoundError

from agents.models import Signal
from customers.models import Contact, Customer
from tests import factories as f
from tests.api_helpers import agent_key


@pytest.fixture
def sdk(live_server, transactional_db):
    with httpx.Client(timeout=30) as http:
        yield Paid(token=agent_key(), base_url=f"{live_server.url}/api/v2", httpx_client=http)


def create_acme(sdk, **extra):
    return sdk.customers.create_customer(
        name="Acme",
        legal_name="Acme Holdings Ltd",
        email="billing@acme.example",
        phone="+44 20 7946 0000",
        website="https://acme.example",
        external_id="cus_acme",
        billing_address={
            "line1": "1 Main Street",
            "line2": "Floor 2",
            "city": "London",
            "state": "Greater London",
            "zipCode": "EC1A 1BB",
            "country": "gb",
        },
        vat_number="GB980780684",
        metadata={"crm_id": 42, "tier": "gold"},
        default_currency="eur",
        **extra,
    )


def test_a_customer_created_with_the_sdk_is_stored_with_every_field(sdk):
    created = create_acme(sdk)
    stored = Customer.objects.get(external_id="cus_acme")
    assert created.id == str(stored.pk) and created.external_id == "cus_acme"
    assert (stored.name, stored.legal_name, stored.billing_email) == (
        "Acme",
        "Acme Holdings Ltd",
        "billing@acme.example",
    )
    assert (stored.currency, stored.address_country, stored.address_postal_code) == (
        "EUR",
        "GB",
        "EC1A 1BB",
    )
    assert (stored.vat_number, stored.phone, stored.website) == (
        "GB980780684",
        "+44 20 7946 0000",
        "https://acme.example",
    )
    assert stored.metadata == {"crm_id": 42, "tier": "gold"}
    assert created.billing_address.line2 == "Floor 2" and created.default_currency == "EUR"
    assert created.status == "active" and created.creation_state == "active"


def test_signals_kept_under_the_external_id_attach_when_the_customer_is_created(sdk):
    waiting = f.SignalFactory(customer=None, external_customer_id="cus_acme")
    create_acme(sdk)
    waiting.refresh_from_db()
    assert waiting.customer.external_id == "cus_acme"


def test_customers_are_listed_by_page_and_filtered(sdk):
    for n in range(5):
        f.CustomerFactory(external_id=f"cus_{n}", name=f"Beta {n}")
    f.CustomerFactory(external_id="cus_gone", name="Gone Inc", status="churned")
    page = sdk.customers.list_customers(limit=2, offset=1)
    assert [c.external_id for c in page.data] == ["cus_1", "cus_2"]
    assert (page.pagination.total, page.pagination.has_more) == (6, True)
    last = sdk.customers.list_customers(limit=2, offset=4)
    assert last.pagination.has_more is False and len(last.data) == 2
    assert [c.name for c in sdk.customers.list_customers(name="GONE").data] == ["Gone Inc"]
    assert [c.name for c in sdk.customers.list_customers(status="churned").data] == ["Gone Inc"]
    assert [c.name for c in sdk.customers.list_customers(external_id="cus_3").data] == ["Beta 3"]
    assert sdk.customers.list_customers(creation_state="draft").data == []


def test_a_customer_is_read_and_changed_by_id_and_by_external_id(sdk):
    created = create_acme(sdk)
    assert sdk.customers.get_customer_by_id(created.id).name == "Acme"
    assert sdk.customers.get_customer_by_external_id("cus_acme").id == created.id

    changed = sdk.customers.update_customer_by_id(
        created.id, name="Acme Corp", billing_address={"line1": "9 New Road", "country": "FR"}
    )
    assert changed.name == "Acme Corp" and changed.legal_name == "Acme Holdings Ltd"
    stored = Customer.objects.get(pk=created.id)
    # The address is replaced whole: the fields not sent are emptied.
    assert (stored.address_line1, stored.address_country, stored.address_city) == (
        "9 New Road",
        "FR",
        "",
    )

    churned = sdk.customers.update_customer_by_external_id(
        "cus_acme",
        churn_date=datetime(2026, 5, 1, tzinfo=UTC),
        vat_number=None,
        external_id="cus_acme_2",
    )
    assert churned.status == "churned" and churned.external_id == "cus_acme_2"
    stored.refresh_from_db()
    assert stored.status == Customer.Status.CHURNED and stored.vat_number == ""
    assert stored.churned_at == datetime(2026, 5, 1, tzinfo=UTC)
    with pytest.raises(NotFoundError):
        sdk.customers.get_customer_by_external_id("cus_acme")


def test_a_customer_nothing_was_recorded_against_is_deleted_with_its_contacts(sdk):
    created = create_acme(sdk)
    sdk.contacts.create_contact(customer_id=created.id, email="ann@acme.example")
    sdk.customers.delete_customer_by_external_id("cus_acme")
    assert not Customer.objects.exists() and not Contact.objects.exists()
    with pytest.raises(NotFoundError):
        sdk.customers.delete_customer_by_id(created.id)


def test_a_customer_with_signals_is_kept_and_the_sdk_is_told_why(sdk):
    created = create_acme(sdk)
    f.SignalFactory(customer=Customer.objects.get(pk=created.id))
    with pytest.raises(ApiError) as refused:
        sdk.customers.delete_customer_by_id(created.id)
    assert refused.value.status_code == 409
    assert "signals" in refused.value.body["detail"] and "churned" in refused.value.body["detail"]
    assert Customer.objects.filter(pk=created.id).exists() and Signal.objects.count() == 1


def test_an_external_id_another_customer_has_is_a_conflict(sdk):
    create_acme(sdk)
    with pytest.raises(ApiError) as refused:
        sdk.customers.create_customer(name="Other", email="o@x.example", external_id="cus_acme")
    assert refused.value.status_code == 409 and "externalId" in refused.value.body
    assert Customer.objects.count() == 1


def test_contacts_are_created_listed_read_changed_and_deleted(sdk):
    acme = create_acme(sdk)
    other = f.CustomerFactory()
    contact = sdk.contacts.create_contact(
        customer_id=acme.id,
        email="ann@acme.example",
        first_name="Ann",
        last_name="Lee",
        phone="+1 555 0100",
        billing_address={"street": "1 Main", "city": "Leeds", "zipCode": "LS1", "country": "GB"},
        external_id="ct_ann",
        roles=["BILLING", "ACCOUNTS_PAYABLE"],
    )
    stored = Contact.objects.get(external_id="ct_ann")
    assert (stored.customer.external_id, stored.email, stored.address_city) == (
        "cus_acme",
        "ann@acme.example",
        "Leeds",
    )
    assert stored.billing and stored.accounts_payable
    assert contact.roles == ["BILLING", "ACCOUNTS_PAYABLE"]
    assert contact.billing_address.street == "1 Main"

    sdk.contacts.create_contact(customer_id=str(other.pk), email="bob@other.example")
    listed = sdk.contacts.list_contacts(limit=1)
    assert [c.email for c in listed.data] == ["ann@acme.example"]
    assert listed.pagination.total == 2 and listed.pagination.has_more

    assert sdk.contacts.get_contact_by_external_id("ct_ann").id == contact.id
    moved = sdk.contacts.update_contact_by_id(
        contact.id, customer_id=str(other.pk), roles=["BILLING"], phone=None
    )
    assert moved.customer_id == str(other.pk) and moved.roles == ["BILLING"]
    stored.refresh_from_db()
    assert stored.customer == other and not stored.accounts_payable and stored.phone == ""
    renamed = sdk.contacts.update_contact_by_external_id("ct_ann", last_name="Kim")
    assert renamed.last_name == "Kim" and renamed.first_name == "Ann"

    sdk.contacts.delete_contact_by_id(contact.id)
    assert not Contact.objects.filter(pk=contact.id).exists()
    with pytest.raises(NotFoundError):
        sdk.contacts.get_contact_by_id(contact.id)


def test_a_contact_of_an_unknown_customer_is_refused_naming_customer_id(sdk):
    create_acme(sdk)
    with pytest.raises(ApiError) as refused:
        sdk.contacts.create_contact(customer_id="cus_acme", email="ann@acme.example")
    assert refused.value.status_code == 400 and "customerId" in refused.value.body
    assert not Contact.objects.exists()


def test_an_invalid_tax_id_is_refused_naming_vat_number(sdk):
    with pytest.raises(ApiError) as refused:
        sdk.customers.create_customer(
            name="Acme",
            email="billing@acme.example",
            external_id="cus_acme",
            billing_address={"country": "GB"},
            vat_number="GB123456789",
        )
    assert refused.value.status_code == 400
    assert "checksum" in str(refused.value.body["vatNumber"])
    assert not Customer.objects.exists()
    created = create_acme(sdk)
    # An update is checked as a create is; a valid EU number of another country is fine.
    with pytest.raises(ApiError) as moved:
        sdk.customers.update_customer_by_id(created.id, vat_number="DE123")
    assert moved.value.status_code == 400 and "vatNumber" in moved.value.body
    assert Customer.objects.get().vat_number == "GB980780684"
    updated = sdk.customers.update_customer_by_id(created.id, vat_number="DE136695976")
    assert updated.vat_number == "DE136695976"
