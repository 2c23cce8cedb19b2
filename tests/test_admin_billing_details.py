"""Billing details in the admin: the seller profile (one row; Finance edits, others view;
audited; logo checked), tax rates (a rate an invoice used stays as it is), customers'
billing details (tax id checked on the field; contacts; history), agreements' tax rate."""

import io
from decimal import Decimal as D

import pytest
from django.urls import reverse

from billing.models import SellerProfile, TaxRate
from customers.models import Customer
from tests import factories as f
from tests.receivables_helpers import invoice_of, staff

pytestmark = pytest.mark.django_db

PROFILE = "/admin/billing/sellerprofile/1/change/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


def login(client, role):
    user = staff(role)
    if user:
        client.force_login(user)
    return user


def profile_data(**change) -> dict:
    data = {
        "legal_name": "Northwind Outcomes Ltd",
        "address_line1": "2 Market Street",
        "address_line2": "",
        "address_city": "Leeds",
        "address_state": "",
        "address_postal_code": "LS1 1AA",
        "address_country": "GB",
        "tax_id": "GB980780684",
        "registration_number": "09876543",
        "email": "billing@northwind.example",
        "payment_instructions": "IBAN GB33 BUKB 2020 1555 5555 55",
        "payment_terms_days": "30",
        "invoice_footer": "Thank you.",
        "invoice_number_format": "NW-{year}-{seq:05d}",
        "outcome_account_code": "4000",
        "fee_account_code": "4100",
        "tax_account_code": "2200",
        "receivables_account_code": "1200",
        "bank_account_code": "1000",
        "prepaid_credits_account_code": "2300",
        "promotional_credits_account_code": "4900",
    }
    return {**data, **change}


def upload(content: bytes, name="logo.png"):
    file = io.BytesIO(content)
    file.name = name
    return file


def test_the_list_opens_the_one_profile_and_a_get_creates_nothing(client):
    SellerProfile.objects.all().delete()
    user = login(client, "Finance")
    response = client.get("/admin/billing/sellerprofile/")
    assert response.status_code == 302 and response["Location"] == PROFILE
    page = client.get(PROFILE)
    assert page.status_code == 200 and "Closing refuses to issue invoices" in page.content.decode()
    assert not SellerProfile.objects.exists()
    saved = client.post(PROFILE, profile_data(logo_upload=upload(PNG)))
    assert saved.status_code == 302, saved.context and saved.context["adminform"].form.errors
    profile = SellerProfile.objects.get()
    assert profile.legal_name == "Northwind Outcomes Ltd" and profile.missing == []
    assert (bytes(profile.logo), profile.logo_type) == (PNG, "image/png")
    assert profile.history.first().history_user == user  # audited: who saved it
    page = client.get(PROFILE).content.decode()
    assert 'id="logo-preview" src="data:image/png;base64,' in page
    assert "Nothing: invoices can be issued." in page
    history = client.get("/admin/billing/sellerprofile/1/history/")
    assert history.status_code == 200 and "Northwind" in history.content.decode()


def test_a_jpeg_replaces_the_logo_and_remove_clears_it(client):
    login(client, "Finance")
    client.post(PROFILE, profile_data(logo_upload=upload(JPEG, "logo.jpg")))
    assert SellerProfile.current().logo_type == "image/jpeg"
    client.post(PROFILE, profile_data(logo_remove="on"))
    profile = SellerProfile.current()
    assert (bytes(profile.logo), profile.logo_type) == (b"", "")


BAD = [
    ({"logo_upload": upload(b"GIF89a" + b"\x00" * 10, "x.gif")}, "logo_upload", "neither"),
    ({"logo_upload": upload(PNG + b"\x00" * 512 * 1024)}, "logo_upload", "at most 512 KB"),
    ({"invoice_number_format": "INV-{year}"}, "invoice_number_format", "needs {seq}"),
    ({"invoice_number_format": "INV-{client}-{seq}"}, "invoice_number_format", "{client}"),
    ({"invoice_number_format": "INV-{seq"}, "invoice_number_format", "not a number format"),
    ({"tax_id": "GB123456789"}, "tax_id", "checksum"),
    ({"address_country": "XX"}, "address_country", ""),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD, ids=[b[2] or b[1] for b in BAD])
def test_bad_billing_details_are_refused_on_their_field(client, change, field, message):
    login(client, "Finance")
    before = SellerProfile.current().legal_name
    response = client.post(PROFILE, profile_data(**change))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert SellerProfile.current().legal_name == before


@pytest.mark.parametrize("role", ["Viewers", "Account managers"])
def test_others_view_the_profile_but_cannot_change_it(client, role):
    login(client, role)
    page = client.get(PROFILE)
    assert page.status_code == 200 and "Outcome Agents Ltd" in page.content.decode()
    assert 'name="legal_name"' not in page.content.decode()
    assert client.post(PROFILE, profile_data()).status_code == 403
    assert SellerProfile.current().legal_name == "Outcome Agents Ltd"


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(PROFILE)
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- Tax rates ---------------------------------------------------------------------------
def rate_data(**change):
    data = {
        "name": "VAT 20%",
        "percent": "20",
        "country": "GB",
        "treatment": "standard",
        "legal_note": "",
    }
    return {**data, **change}


def test_finance_adds_and_changes_a_rate_not_used_yet(client):
    login(client, "Finance")
    added = client.post("/admin/billing/taxrate/add/", rate_data())
    assert added.status_code == 302
    rate = TaxRate.objects.get()
    url = reverse("admin:billing_taxrate_change", args=[rate.pk])
    assert client.post(url, rate_data(percent="21", name="VAT 21%")).status_code == 302
    rate.refresh_from_db()
    assert rate.percent == D("21")


def test_a_reverse_charge_rate_needs_zero_and_a_note(client):
    login(client, "Finance")
    response = client.post("/admin/billing/taxrate/add/", rate_data(treatment="reverse_charge"))
    errors = response.context["adminform"].form.errors
    assert "is 0%" in errors["percent"][0] and "legal note" in errors["legal_note"][0]
    assert not TaxRate.objects.exists()


def test_a_rate_used_on_an_invoice_cannot_be_changed_or_deleted(client):
    login(client, "superuser")
    rate = f.TaxRateFactory(percent=D("20"))
    invoice_of("100", tax_rate=rate)
    url = reverse("admin:billing_taxrate_change", args=[rate.pk])
    page = client.get(url).content.decode()
    assert "cannot be changed or deleted" in page and 'name="percent"' not in page
    client.post(url, rate_data(percent="25"))
    rate.refresh_from_db()
    assert rate.percent == D("20")
    delete = client.get(reverse("admin:billing_taxrate_delete", args=[rate.pk]))
    assert delete.status_code == 403
    listed = client.get("/admin/billing/taxrate/").content.decode()
    assert "icon-yes" in listed  # the "used on invoices" column


@pytest.mark.parametrize("role", ["Viewers", "Account managers"])
def test_only_finance_edits_tax_rates(client, role):
    login(client, role)
    rate = f.TaxRateFactory()
    url = reverse("admin:billing_taxrate_change", args=[rate.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, rate_data(percent="5")).status_code == 403
    assert client.post("/admin/billing/taxrate/add/", rate_data()).status_code == 403


# --- Customers and agreements ---------------------------------------------------------
def customer_data(customer, **change):
    data = {
        "name": customer.name,
        "external_id": customer.external_id,
        "currency": customer.currency,
        "status": "active",
        "churned_at_0": "",
        "churned_at_1": "",
        "legal_name": "Acme Holdings Ltd",
        "billing_email": "ap@acme.example",
        "vat_number": "DE136695976",
        "address_line1": "Hauptstraße 1",
        "address_line2": "",
        "address_postal_code": "10115",
        "address_city": "Berlin",
        "address_state": "",
        "address_country": "DE",
        "tax_rate": "",
        "payment_terms_days": "14",
        "phone": "",
        "website": "",
        "metadata": "{}",
        "contacts-TOTAL_FORMS": "1",
        "contacts-INITIAL_FORMS": "0",
        "contacts-0-first_name": "Ann",
        "contacts-0-last_name": "Payable",
        "contacts-0-email": "ann@acme.example",
        "contacts-0-phone": "",
        "contacts-0-billing": "on",
        "agreements-TOTAL_FORMS": "0",
        "agreements-INITIAL_FORMS": "0",
    }
    return {**data, **change}


@pytest.mark.parametrize("role", ["Account managers", "Finance"])
def test_account_managers_and_finance_edit_billing_details(client, role):
    login(client, role)
    customer = f.CustomerFactory()
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    page = client.get(url).content.decode()
    assert "Billing details (printed on invoices)" in page and 'name="vat_number"' in page
    response = client.post(url, customer_data(customer))
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert (customer.vat_number, customer.payment_terms_days) == ("DE136695976", 14)
    assert customer.billing_emails == ["ap@acme.example", "ann@acme.example"]
    history = client.get(reverse("admin:customers_customer_history", args=[customer.pk]))
    assert history.status_code == 200 and "Changed" in history.content.decode()


def test_an_invalid_tax_id_is_shown_on_its_field(client):
    login(client, "Account managers")
    customer = f.CustomerFactory()
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    response = client.post(url, customer_data(customer, vat_number="DE123456789"))
    errors = response.context["adminform"].form.errors
    assert "not a valid EU VAT number" in errors["vat_number"][0]
    customer.refresh_from_db()
    assert customer.vat_number != "DE123456789"


def test_viewers_cannot_change_a_customer(client):
    login(client, "Viewers")
    customer = f.CustomerFactory()
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, customer_data(customer)).status_code == 403
    assert Customer.objects.get().vat_number == customer.vat_number


def test_an_agreement_and_its_prices_take_a_tax_rate(client):
    login(client, "Account managers")
    agreement = f.PriceAgreementFactory()
    f.PriceFactory(agreement=agreement)
    page = client.get(reverse("admin:billing_priceagreement_change", args=[agreement.pk]))
    html = page.content.decode()
    assert 'name="tax_rate"' in html and 'name="prices-0-tax_rate"' in html
