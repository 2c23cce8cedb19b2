"""Finance issues credit notes from the invoice page (whole invoice or per line; refusals
on the line they name, nothing stored; a double submit issues one); the invoice page
lists them; the CreditNote admin is read-only. Every role."""

import re
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from billing.models import CreditNote, Invoice
from billing.services import invoice_void
from tests.mail_helpers import multi_rate_invoice
from tests.receivables_helpers import staff

pytestmark = pytest.mark.django_db


def credit_url(invoice):
    return reverse("admin:billing_invoice_credit", args=[invoice.pk])


def form_of(client, invoice) -> dict:
    """The form as shown: its token, and blank line fields."""
    html = client.get(credit_url(invoice)).content.decode()
    token = re.search(r'name="token" value="([0-9a-f]+)"', html).group(1)
    return {"token": token, "reason": "Customer complaint"}


def lines(invoice):
    return invoice.lines.order_by("position")


@pytest.fixture
def finance(client):
    client.force_login(staff("Finance"))
    return client


def test_finance_credits_a_line_and_the_page_lists_the_credit_note(finance):
    _, invoice = multi_rate_invoice()
    outcome, _fee = lines(invoice)
    page = finance.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    assert credit_url(invoice) in page  # the button
    shown = finance.get(credit_url(invoice)).content.decode()
    assert "left to credit 214.92 USD" in shown and "199.99" in shown
    data = {**form_of(finance, invoice), f"line_{outcome.pk}": "all"}
    response = finance.post(credit_url(invoice), data, follow=True)
    note = CreditNote.objects.get()
    # 4.11 net at 20%: 0.822 -> 0.82; total 4.93.
    assert (note.net, note.tax, note.total) == (D("4.11"), D("0.82"), D("4.93"))
    assert f"Credit note {note.number} of 4.93 USD issued" in response.content.decode()
    page = finance.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    assert note.number in page and "Customer complaint" in page and "4.93 USD" in page
    assert reverse("admin:billing_creditnote_pdf", args=[note.pk]) in page
    assert "Pending" in page  # its e-mail's state
    assert "209.99 USD" in page  # amount due: 214.92 - 4.93


def test_the_whole_invoice_and_a_double_submit_issues_one(finance):
    _, invoice = multi_rate_invoice()
    data = {**form_of(finance, invoice), "full": "on"}
    assert finance.post(credit_url(invoice), data).status_code == 302
    again = finance.post(credit_url(invoice), data, follow=True).content.decode()
    assert "This form was sent already" in again
    note = CreditNote.objects.get()
    assert note.total == D("214.92")
    invoice.refresh_from_db()
    assert invoice.fully_credited and invoice.amount_due == 0
    page = finance.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    assert credit_url(invoice) not in page  # nothing left: no button


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("4.12", "at most 4.11 USD is left to credit on"),
        ("0", "give a positive amount"),
        ("-1", "give a positive amount"),
        ("NaN", "is not an amount"),
        ("1e3", "is not an amount"),
        ("1e999", "is not an amount"),
        ("1000000000000", "is more than any invoice"),
        ("abc", "is not an amount"),
        ("1.001", "USD amounts have 2 decimal places at most"),
    ],
)
def test_a_bad_amount_is_shown_on_its_line_and_stores_nothing(finance, value, error):
    _, invoice = multi_rate_invoice()
    outcome, _ = lines(invoice)
    data = {**form_of(finance, invoice), f"line_{outcome.pk}": value}
    response = finance.post(credit_url(invoice), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert error in " ".join(errors[f"line_{outcome.pk}"]), errors
    assert not CreditNote.objects.exists()


def test_form_refusals_say_what_to_fix(finance):
    _, invoice = multi_rate_invoice()
    outcome, _ = lines(invoice)
    base = form_of(finance, invoice)
    no_reason = finance.post(credit_url(invoice), {**base, "reason": "", "full": "on"})
    assert "reason" in no_reason.context["form"].errors
    nothing = finance.post(credit_url(invoice), base)
    assert "Give an amount on at least one line" in str(nothing.context["form"].errors)
    both = finance.post(credit_url(invoice), {**base, "full": "on", f"line_{outcome.pk}": "1"})
    assert "not both" in str(both.context["form"].errors)
    assert not CreditNote.objects.exists()


def test_a_void_invoice_is_refused(finance):
    _, invoice = multi_rate_invoice()
    data = form_of(finance, invoice)
    invoice_void(invoice_id=invoice.pk, reason="wrong customer")
    response = finance.post(credit_url(invoice), {**data, "full": "on"})
    assert "is void" in str(response.context["form"].errors)
    assert not CreditNote.objects.exists()


@pytest.mark.parametrize("role", ["Account managers", "Viewers", "plain staff"])
def test_only_finance_issues(client, role):
    _, invoice = multi_rate_invoice()
    if role == "plain staff":
        client.force_login(User.objects.create_user("p", password="x-1", is_staff=True))
    else:
        client.force_login(staff(role))
    assert client.get(credit_url(invoice)).status_code == 403
    posted = client.post(credit_url(invoice), {"reason": "x", "full": "on", "token": "t"})
    assert posted.status_code == 403 and not CreditNote.objects.exists()
    page = client.get(f"/admin/billing/invoice/{invoice.pk}/change/")
    assert credit_url(invoice) not in page.content.decode()


def test_a_get_writes_nothing(finance):
    _, invoice = multi_rate_invoice()
    finance.get(credit_url(invoice))
    assert not CreditNote.objects.exists()
    assert Invoice.objects.get(pk=invoice.pk).amount_credited == 0


def test_the_credit_note_admin_is_read_only_and_searchable(client):
    _, invoice = multi_rate_invoice()
    from billing.credit_notes import credit_note_issue

    note = credit_note_issue(invoice_id=invoice.pk, reason="Cancelled order")
    client.force_login(staff("Account managers"))
    listed = client.get("/admin/billing/creditnote/", {"q": invoice.number}).content.decode()
    assert note.number in listed and "214.92 USD" in listed and "10.82 USD" in listed
    assert "Cancelled order" not in listed  # the reason is on its page (the list fits 1366 px)
    detail = client.get(f"/admin/billing/creditnote/{note.pk}/change/")
    assert detail.status_code == 200
    text = detail.content.decode()
    assert "Reduced 5%" in text and "199.99" in text and 'name="_save"' not in text
    assert "Cancelled order" in text
    for role in ("Finance", "Account managers"):
        client.force_login(
            staff(role) if role == "Finance" else User.objects.get(username="account-managers")
        )
        assert client.get(f"/admin/billing/creditnote/{note.pk}/delete/").status_code == 403
        assert client.get("/admin/billing/creditnote/add/").status_code == 403
    client.force_login(staff("Viewers"))
    assert client.get("/admin/billing/creditnote/").status_code == 403
