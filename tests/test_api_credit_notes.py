"""Finance issues credit notes through the staff API (POST /api/v1/invoices/{id}/
credit-notes), idempotent by Idempotency-Key or reference; account managers list and
read them; bad input is a 400 naming the field and stores nothing; 404; a void 409."""

import json

import pytest
from django.contrib.auth.models import User

from billing.models import CreditNote
from billing.services import invoice_void
from tests.mail_helpers import multi_rate_invoice
from tests.receivables_helpers import staff

pytestmark = pytest.mark.django_db


def url(invoice_or_id) -> str:
    return f"/api/v1/invoices/{getattr(invoice_or_id, 'pk', invoice_or_id)}/credit-notes"


def post(client, invoice, data, **extra):
    raw = data if isinstance(data, str) else json.dumps(data)
    return client.post(url(invoice), raw, content_type="application/json", **extra)


@pytest.fixture
def finance(client):
    client.force_login(staff("Finance"))
    return client


def test_finance_issues_per_line_and_a_retry_returns_the_first(finance):
    _, invoice = multi_rate_invoice()
    _outcome, fee = invoice.lines.order_by("position")
    body = {"reason": "Fee waived", "lines": [{"invoice_line": fee.pk, "amount": "99.99"}]}
    first = post(finance, invoice, body, HTTP_IDEMPOTENCY_KEY="req-1")
    assert first.status_code == 201, first.content
    # 99.99 x 5% = 4.9995 -> 5.00 tax; total 104.99; due 214.92 - 104.99 = 109.93.
    data = first.json()
    assert (data["net"], data["tax"], data["total"]) == ("99.99", "5.00", "104.99")
    assert data["invoice_amount_due"] == "109.93" and data["number"].startswith("CN-")
    assert data["taxes"] == [
        {"name": "Reduced 5%", "percent": "5.0000", "net": "99.99", "tax": "5.00"}
    ]
    again = post(finance, invoice, body, HTTP_IDEMPOTENCY_KEY="req-1")
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    assert CreditNote.objects.count() == 1
    reused = post(finance, invoice, {**body, "reason": "Other"}, HTTP_IDEMPOTENCY_KEY="req-1")
    assert reused.status_code == 400 and "reference" in reused.json()
    full = post(finance, invoice, {"reason": "Cancelled", "full": True, "reference": "req-2"})
    assert full.status_code == 201 and full.json()["total"] == "109.93"
    listed = finance.get(url(invoice)).json()["results"]
    assert [n["total"] for n in listed] == ["104.99", "109.93"]
    assert finance.get(f"/api/v1/credit-notes/{data['id']}").json()["number"] == data["number"]


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"full": True}, "reason", "required"),
        ({"reason": " ", "full": True}, "reason", "Say why"),
        ({"reason": "x"}, "lines", "at least one line"),
        ({"reason": "x", "full": True, "lines": [{"invoice_line": 1}]}, "full", "not both"),
        ({"reason": "x", "full": True, "colour": "red"}, "colour", "Unknown field"),
        (
            {"reason": "x", "lines": [{"invoice_line": "LINE", "amount": "1"}]},
            "lines[0].invoice_line",
            "integer",
        ),
        (
            {"reason": "x", "lines": [{"invoice_line": "FEE", "amount": "NaN"}]},
            "lines[0].amount",
            "finite",
        ),
        (
            {"reason": "x", "lines": [{"invoice_line": "FEE", "amount": "1e999"}]},
            "lines[0].amount",
            "below",
        ),
        (
            {"reason": "x", "lines": [{"invoice_line": "FEE", "amount": 5}]},
            "lines[0].amount",
            "string",
        ),
        (
            {"reason": "x", "lines": [{"invoice_line": "FEE", "amount": "0"}]},
            "lines[0].amount",
            "positive",
        ),
        (
            {"reason": "x", "lines": [{"invoice_line": "FEE", "amount": "-3"}]},
            "lines[0].amount",
            "positive",
        ),
        (
            {"reason": "x", "lines": [{"invoice_line": "FEE", "amount": "200.00"}]},
            "lines[0].amount",
            "at most 199.99 USD",
        ),
        (
            {"reason": "x", "lines": [{"invoice_line": "FEE", "amount": "1.001"}]},
            "lines[0].amount",
            "2 decimal places",
        ),
        (
            {"reason": "x", "lines": [{"invoice_line": "FEE", "extra": 1}]},
            "lines[0].extra",
            "Unknown field",
        ),
        (
            {"reason": "x", "lines": [{"invoice_line": "OTHER"}]},
            "lines[0].invoice_line",
            "is not a line of invoice",
        ),
        ({"reason": "x", "full": "yes"}, "full", "Must be a valid boolean"),
        ({"reason": "x", "full": 1}, "full", "Must be a valid boolean"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(finance, body, field, text):
    _, invoice = multi_rate_invoice()
    _, fee = invoice.lines.order_by("position")
    _, other = multi_rate_invoice()
    ids = {"FEE": fee.pk, "OTHER": other.lines.first().pk}
    for line in body.get("lines", []):
        line["invoice_line"] = ids.get(line["invoice_line"], line["invoice_line"])
    response = post(finance, invoice, body)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert text in " ".join(response.json()[field]), response.json()
    assert not CreditNote.objects.exists()


def test_not_json_unknown_invoice_and_void_invoice(finance):
    _, invoice = multi_rate_invoice()
    assert post(finance, invoice, "{nope").status_code == 400
    assert post(finance, 10**6, {"reason": "x", "full": True}).status_code == 404
    assert post(finance, 2**70, {"reason": "x", "full": True}).status_code == 404
    invoice_void(invoice_id=invoice.pk, reason="wrong customer")
    void = post(finance, invoice, {"reason": "x", "full": True})
    assert void.status_code == 409 and "is void" in void.json()["detail"]
    assert not CreditNote.objects.exists()


@pytest.mark.parametrize(
    ("role", "reads", "issues"),
    [("Account managers", 200, 403), ("Viewers", 403, 403), ("plain staff", 403, 403)],
)
def test_roles(client, role, reads, issues):
    _, invoice = multi_rate_invoice()
    if role == "plain staff":
        client.force_login(User.objects.create_user("p", password="x-1", is_staff=True))
    else:
        client.force_login(staff(role))
    assert client.get(url(invoice)).status_code == reads
    assert post(client, invoice, {"reason": "x", "full": True}).status_code == issues
    assert not CreditNote.objects.exists()


def test_the_invoice_api_gives_the_line_ids_a_credit_note_names(finance):
    _, invoice = multi_rate_invoice()
    lines = finance.get(f"/api/v1/invoices/{invoice.pk}").json()["lines"]
    fee = next(line for line in lines if line["kind"] == "platform_fee")
    response = post(
        finance, invoice, {"reason": "Fee waived", "lines": [{"invoice_line": fee["id"]}]}
    )
    assert response.status_code == 201, response.content
    assert response.json()["net"] == "199.99"
