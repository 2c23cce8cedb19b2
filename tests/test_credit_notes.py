"""Credit notes: tax reversed at the invoice's rates (hand-computed), numbered in their
own gapless series, never above what is left of the invoice; amount due nets them."""

from decimal import Decimal as D

import pytest

from billing.credit_notes import CreditRequest, credit_note_issue
from billing.errors import CreditNoteError
from billing.models import CreditNote, Invoice
from billing.receivables import payment_record
from billing.services import invoice_void, period_close
from tests.mail_helpers import multi_rate_invoice

pytestmark = pytest.mark.django_db


def _lines(invoice):
    outcome, fee = invoice.lines.order_by("position")
    return outcome, fee


def test_a_full_credit_reverses_every_line_and_the_tax_exactly():
    # net 204.10, tax 0.82 + 10.00, total 214.92 (multi_rate_invoice's docstring)
    _, invoice = multi_rate_invoice()
    note = credit_note_issue(invoice_id=invoice.pk, reason="Cancelled order")
    assert note.number.startswith("CN-") and note.number.endswith("-000001")
    assert (note.net, note.tax, note.total) == (D("204.10"), D("10.82"), D("214.92"))
    assert sorted((t.name, t.net, t.tax) for t in note.taxes.all()) == [
        ("Reduced 5%", D("199.99"), D("10.00")),
        ("VAT 20%", D("4.11"), D("0.82")),
    ]
    invoice.refresh_from_db()
    assert invoice.amount_credited == D("214.92")
    assert invoice.amount_due == 0 and invoice.fully_credited
    assert invoice.status == Invoice.Status.ISSUED
    with pytest.raises(CreditNoteError, match="lines: nothing is left"):
        credit_note_issue(invoice_id=invoice.pk, reason="again")


def test_partial_credits_never_add_up_to_more_than_the_tax_charged():
    """The fee's tax is 9.9995 -> 10.00; three credits of 66.66, 66.66, 66.67 would each
    round up (3.333 -> 3.33, 3.333 -> 3.33, 3.3335 -> 3.33): the last takes what is left,
    3.34, so the credits add up to exactly the 10.00 charged."""
    _, invoice = multi_rate_invoice()
    _, fee = _lines(invoice)
    taxes = []
    for amount in ("66.66", "66.66", "66.67"):
        note = credit_note_issue(
            invoice_id=invoice.pk,
            reason="Fee refunded in thirds",
            lines=[CreditRequest(fee.pk, D(amount))],
        )
        taxes.append(note.tax)
    assert taxes == [D("3.33"), D("3.33"), D("3.34")]
    invoice.refresh_from_db()
    assert invoice.amount_credited == D("199.99") + D("10.00")
    assert [n.sequence for n in CreditNote.objects.order_by("sequence")] == [1, 2, 3]


def test_a_credit_above_what_is_left_of_the_line_is_refused_and_stores_nothing():
    _, invoice = multi_rate_invoice()
    outcome, _ = _lines(invoice)
    with pytest.raises(CreditNoteError, match=r"lines\[0\]\.amount: at most 4\.11 USD"):
        credit_note_issue(
            invoice_id=invoice.pk, reason="x", lines=[CreditRequest(outcome.pk, D("4.12"))]
        )
    with pytest.raises(CreditNoteError, match="decimal places"):
        credit_note_issue(
            invoice_id=invoice.pk, reason="x", lines=[CreditRequest(outcome.pk, D("1.001"))]
        )
    assert not CreditNote.objects.exists()
    invoice.refresh_from_db()
    assert invoice.amount_credited == 0


def test_a_void_invoice_is_not_credited_and_a_credited_one_is_not_voided():
    _, invoice = multi_rate_invoice()
    outcome, _ = _lines(invoice)
    credit_note_issue(
        invoice_id=invoice.pk,
        reason="One outcome was wrong",
        lines=[CreditRequest(outcome.pk, D("1.37"))],
    )
    with pytest.raises(Exception, match="credit what is left"):
        invoice_void(invoice_id=invoice.pk, reason="wrong")
    _, other = multi_rate_invoice()
    invoice_void(invoice_id=other.pk, reason="wrong customer")
    with pytest.raises(CreditNoteError, match=r"invoice: invoice .* is void"):
        credit_note_issue(invoice_id=other.pk, reason="x")


def test_payments_and_credits_together_settle_the_invoice():
    _, invoice = multi_rate_invoice()
    _, fee = _lines(invoice)
    payment_record(
        invoice_id=invoice.pk,
        amount=D("4.93"),
        currency="USD",
        received_on=invoice.issued_at.date(),
        reference="wire-1",
    )
    note = credit_note_issue(
        invoice_id=invoice.pk, reason="Fee waived", lines=[CreditRequest(fee.pk)]
    )
    assert note.total == D("209.99")  # 199.99 + 10.00
    invoice.refresh_from_db()
    assert invoice.amount_due == 0  # 214.92 - 4.93 - 209.99
    assert invoice.status == Invoice.Status.PAID


def test_the_invoice_export_shows_what_was_credited_and_what_is_left(admin_client):
    _, invoice = multi_rate_invoice()
    _, fee = _lines(invoice)
    credit_note_issue(invoice_id=invoice.pk, reason="Fee waived", lines=[CreditRequest(fee.pk)])
    rows = admin_client.get("/api/v1/invoices", {"format": "csv"}).content.decode().splitlines()
    header, row = rows[0].split(","), rows[1].split(",")
    got = dict(zip(header, row, strict=True))
    # 214.92 total, 199.99 + 10.00 credited, 4.93 left
    assert (got["total"], got["amount_credited"], got["amount_due"]) == (
        "214.92",
        "209.99",
        "4.93",
    )


def test_a_credit_on_a_paid_invoice_shows_what_is_owed_back(admin_client):
    # 214.92 paid in full, then the fee credited (209.99): 209.99 is owed back.
    _, invoice = multi_rate_invoice()
    _, fee = _lines(invoice)
    payment_record(
        invoice_id=invoice.pk,
        amount=D("214.92"),
        currency="USD",
        received_on=invoice.issued_at.date(),
        reference="wire-1",
    )
    credit_note_issue(invoice_id=invoice.pk, reason="Fee waived", lines=[CreditRequest(fee.pk)])
    invoice.refresh_from_db()
    assert (invoice.amount_due, invoice.amount_refundable) == (0, D("209.99"))
    page = admin_client.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    assert "209.99 USD paid beyond it is owed back to the customer" in page


def test_a_line_alone_credits_at_most_what_is_left_of_a_capped_invoice():
    """3 outcomes at 10.00 capped at 20.00: the outcome line is 30.00, the cap -10.00, the
    invoice 20.00. "All" of the outcome line credits 20.00 (what is left of the invoice),
    not 30.00; an amount above it is refused with what is left; a full credit is 20.00."""
    from tests.billing_helpers import World

    w = World(unit_price=D("10.00"), agreement_kwargs={"spend_cap": D("20.00")})
    w.signals(3)
    invoice = period_close(period_id=w.period().pk)
    outcome = invoice.lines.get(kind="outcome")
    assert (outcome.amount, invoice.total) == (D("30.00"), D("20.00"))
    with pytest.raises(CreditNoteError, match=r"at most 20\.00 USD is left"):
        credit_note_issue(
            invoice_id=invoice.pk, reason="x", lines=[CreditRequest(outcome.pk, D("25.00"))]
        )
    note = credit_note_issue(invoice_id=invoice.pk, reason="all", lines=[CreditRequest(outcome.pk)])
    assert note.total == D("20.00")
    invoice.refresh_from_db()
    assert invoice.fully_credited


@pytest.mark.parametrize("typed,net", [("66.5", D("66.50")), (" 12 ", D("12"))])
def test_amounts_are_read_as_people_type_them(typed, net):
    _, invoice = multi_rate_invoice()
    _, fee = _lines(invoice)
    note = credit_note_issue(
        invoice_id=invoice.pk, reason="x", lines=[CreditRequest(fee.pk, typed)]
    )
    assert note.net == net


def test_thousands_separators_are_read_as_such():
    # "1,000.00" is read as 1000.00: more than the fee's 199.99, so refused as too much
    # (not as "not an amount").
    _, invoice = multi_rate_invoice()
    _, fee = _lines(invoice)
    with pytest.raises(CreditNoteError, match=r"at most 199\.99 USD is left"):
        credit_note_issue(
            invoice_id=invoice.pk, reason="x", lines=[CreditRequest(fee.pk, "1,000.00")]
        )


@pytest.mark.parametrize("typed", ["1e2", "1,00.00", "12,5", "NaN", "0x10", "--1"])
def test_text_that_is_not_an_amount_is_refused(typed):
    _, invoice = multi_rate_invoice()
    _, fee = _lines(invoice)
    with pytest.raises(CreditNoteError, match="is not an amount"):
        credit_note_issue(invoice_id=invoice.pk, reason="x", lines=[CreditRequest(fee.pk, typed)])


def test_the_invoice_page_says_credited_in_full(admin_client):
    _, invoice = multi_rate_invoice()
    credit_note_issue(invoice_id=invoice.pk, reason="Cancelled order")
    page = admin_client.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    status = page.split("field-payment_status")[1].split("</div>\n")[0]
    assert "Credited in full" in status
