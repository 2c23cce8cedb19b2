"""Finance records payments through the staff API (POST /api/v1/invoices/{id}/payments),
idempotent by reference; everyone who reads invoices lists them; bad input is a 400 that
names the field, an unknown invoice 404, a void or paid one 409."""

import json
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from agents.models import StaffAPIKey
from billing.models import Payment
from billing.services import invoice_void
from tests import factories as f
from tests.receivables_helpers import invoice_of, staff

pytestmark = pytest.mark.django_db


def url(invoice_or_id) -> str:
    return f"/api/v1/invoices/{getattr(invoice_or_id, 'pk', invoice_or_id)}/payments"


def body(**change) -> dict:
    return {
        "amount": "40.00",
        "currency": "USD",
        "received_on": timezone.now().date().isoformat(),
        "reference": "BANK-1",
        **change,
    }


def post(client, invoice, data, **extra):
    raw = data if isinstance(data, str) else json.dumps(data)
    return client.post(url(invoice), raw, content_type="application/json", **extra)


@pytest.fixture
def finance(client):
    client.force_login(staff("Finance"))
    return client


def test_finance_records_a_payment_and_a_retry_returns_it(finance):
    invoice = invoice_of("99.99")
    first = post(finance, invoice, body())
    assert first.status_code == 201, first.content
    assert first.json()["amount"] == "40.00" and first.json()["invoice_amount_due"] == "59.99"
    again = post(finance, invoice, body())
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    last = post(finance, invoice, body(amount="59.99", reference="BANK-2"))
    assert last.status_code == 201 and last.json()["invoice_status"] == "paid"
    # The retry of the payment that paid the invoice still answers it, not a conflict.
    assert post(finance, invoice, body(amount="59.99", reference="BANK-2")).status_code == 200
    listed = finance.get(url(invoice)).json()
    assert [p["reference"] for p in listed["results"]] == ["BANK-1", "BANK-2"]
    read = finance.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert (read["status"], D(read["amount_paid"]), D(read["amount_due"])) == (
        "paid",
        D("99.99"),
        0,
    )


def test_the_invoice_reads_with_net_tax_per_rate_paid_due_and_days_overdue(finance):
    vat = f.TaxRateFactory(name="VAT 20%", percent=D("20"))
    invoice = invoice_of("1000", "JPY", days_overdue=9, paid="200", tax_rate=vat)
    read = finance.get(f"/api/v1/invoices/{invoice.pk}").json()
    # net 1,000 JPY; tax 200; total 1,200; paid 200; due 1,000
    amounts = [D(read[k]) for k in ("net", "tax", "total", "amount_paid", "amount_due")]
    assert amounts == [1000, 200, 1200, 200, 1000] and read["days_overdue"] == 9
    assert [(t["name"], D(t["tax"])) for t in read["taxes"]] == [("VAT 20%", D(200))]


BAD = [
    (body(amount="100.01"), "amount", "more than the 99.99 USD due"),
    (body(amount="-5"), "amount", "positive"),
    (body(amount="1e999"), "amount", "below 1,000,000,000,000"),
    (body(amount="NaN"), "amount", "finite"),
    (body(amount="1.001"), "amount", "2 decimal places at most"),
    (body(amount=12.5), "amount", "Must be a string"),
    (body(amount="twelve"), "amount", "decimal number"),
    (body(currency="EUR"), "currency", "is in USD, the payment in EUR"),
    (body(currency="ZZZ"), "currency", "ISO 4217"),
    (body(received_on="2999-01-01"), "received_on", "in the future"),
    (body(received_on="99999-01-01"), "received_on", "Date has wrong format"),
    (body(reference="A\x00B"), "reference", "NUL"),
    (body(reference="x" * 201), "reference", "no more than 200 characters"),
    (body(colour="red"), "colour", "Unknown field"),
    ({"currency": "USD"}, "amount", "required"),
]


@pytest.mark.parametrize(("data", "field", "message"), BAD, ids=[b[2] for b in BAD])
def test_bad_input_is_a_400_naming_the_field(finance, data, field, message):
    invoice = invoice_of("99.99")
    response = post(finance, invoice, data)
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()[field]), response.json()
    assert not Payment.objects.exists()


def test_a_reference_used_with_another_amount_is_refused(finance):
    invoice = invoice_of("100")
    post(finance, invoice, body(amount="10"))
    response = post(finance, invoice, body(amount="11"))
    assert response.status_code == 400 and "already recorded" in response.json()["reference"][0]


def test_not_json_and_unknown_invoices(finance):
    invoice = invoice_of("100")
    assert post(finance, invoice, "{not json").status_code == 400
    assert post(finance, invoice, "[]").status_code == 400
    for missing in (999999, 2**70):
        assert post(finance, missing, body()).status_code == 404
        assert finance.get(url(missing)).status_code == 404


def test_a_void_or_paid_invoice_is_a_conflict(finance):
    void = invoice_of("100")
    invoice_void(invoice_id=void.pk, reason="duplicate")
    response = post(finance, void, body())
    assert response.status_code == 409 and "void" in response.json()["detail"]
    paid = invoice_of("40", paid="40")
    response = post(finance, paid, body(reference="another"))
    assert response.status_code == 409 and "paid" in response.json()["detail"]


ROLES = {
    "superuser": (201, 200),
    "Finance": (201, 200),
    "Account managers": (403, 200),
    "Viewers": (403, 200),
    "anonymous": (403, 403),
}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_with_a_session(client, role):
    user = staff(role)
    if user:
        client.force_login(user)
    invoice = invoice_of("100")
    posting, reading = ROLES[role]
    assert post(client, invoice, body()).status_code in (posting, 401)
    assert client.get(url(invoice)).status_code in (reading, 401)
    assert Payment.objects.exists() == (posting == 201)


@pytest.mark.parametrize("role", ["Finance", "Viewers"])
def test_each_role_with_a_token(client, role):
    token = StaffAPIKey.objects.create_key(name="t", user=staff(role))[1]
    invoice = invoice_of("100")
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    response = post(client, invoice, body(), **auth)
    assert response.status_code == (201 if role == "Finance" else 403)
    if role == "Viewers":
        assert "billing.add_payment" in response.json()["detail"]
    assert client.get(url(invoice), **auth).status_code == 200


def test_staff_in_no_group_and_non_staff_are_refused(client):
    invoice = invoice_of("100")
    client.force_login(User.objects.create_user("nogroup", password="x-123456-y", is_staff=True))
    assert post(client, invoice, body()).status_code == 403
    assert client.get(url(invoice)).status_code == 403
    assert not Payment.objects.exists()


def test_the_schema_declares_the_request_fields_and_refuses_others(admin_client):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/invoices/{id}/payments"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(component["properties"]) == {"amount", "currency", "received_on", "reference"}
    assert component["additionalProperties"] is False
    assert set(component["required"]) == {"amount", "currency", "received_on", "reference"}
    assert {"200", "201", "400", "403", "404", "409"} <= set(operation["responses"])


def test_a_far_past_date_is_accepted_as_given(finance):
    # Old payments are recorded late; only the future is refused.
    invoice = invoice_of("100")
    day = (timezone.now() - timedelta(days=400)).date().isoformat()
    assert post(finance, invoice, body(received_on=day)).status_code == 201


@pytest.mark.parametrize("amount", ["1e999", D("1e30"), "Infinity", "NaN", "-0.01", None])
def test_the_service_refuses_impossible_amounts_with_what_to_fix(amount):
    from billing.errors import PaymentError
    from billing.receivables import payment_record

    invoice = invoice_of("100")
    with pytest.raises(PaymentError, match=r"^amount: "):
        payment_record(
            invoice_id=invoice.pk,
            amount=amount,
            currency="USD",
            received_on=timezone.now().date(),
        )
    assert not Payment.objects.exists()


def test_the_api_needs_a_reference_so_that_a_retry_records_nothing_twice(finance):
    invoice = invoice_of("100")
    without = body(amount="10.00")
    without.pop("reference")
    response = post(finance, invoice, without)
    assert response.status_code == 400 and response.json()["reference"]
    blank = post(finance, invoice, body(amount="10.00", reference=" "))
    assert blank.status_code == 400 and "reference" in blank.json()
    invoice.refresh_from_db()
    assert invoice.amount_paid == 0
