"""The accounting export (billing/journal.py): the journal's rows, hand-computed; tax split
per rate by largest remainder; voids reversed on their void day; UTC days, both ends
included; amounts at each currency's minor unit; a read in a few queries."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from billing.credit_notes import CreditRequest, credit_note_issue
from billing.journal import JournalRangeError, account_amounts, journal_day, journal_rows
from billing.models import Invoice
from billing.money import money_split
from billing.services import invoice_void, period_close
from tests import factories as f
from tests.billing_helpers import World
from tests.journal_helpers import (
    ISSUED,
    credit_line,
    journal_csv,
    journal_dicts,
    pay,
    two_outcomes_invoice,
)

FEB = (date(2026, 2, 1), date(2026, 2, 28))
HEADER = (
    "date,document_type,document_number,customer,account_code,net,tax,gross,currency,"
    "customer_external_id,invoice_number,tax_account_code,contra_account_code,description"
)


@pytest.mark.django_db
def test_an_invoice_a_partial_payment_and_a_credit_note_as_journal_rows():
    """Invoice (two_outcomes_invoice): 4010 4.11 + 0.82; 4000 1.00 + 0.06; fee 4100 99.00
    + 5.44; gross 4.93 + 1.06 + 104.44 = 110.43, its total. A payment of 50.00 on 02-10 to
    the bank (1000). A credit note of 1.37 on the Documents line on 02-15: VAT 20% of 1.37
    = 0.274 -> 0.27, total 1.64, negative (it reverses revenue)."""
    _, invoice = two_outcomes_invoice()
    pay(invoice, "50.00", date(2026, 2, 10), "TR-881")
    credit_line(invoice, "Documents", "1.37")
    inv = "INV-2026-000001,2200,1200,Period 2026-01-01 to 2026-01-31"
    issued = "2026-02-01,invoice,INV-2026-000001,Acme Ltd"
    assert journal_csv(*FEB).split("\r\n") == [
        HEADER,
        f"{issued},4010,4.11,0.82,4.93,USD,cus_acme,{inv}",
        f"{issued},4000,1.00,0.06,1.06,USD,cus_acme,{inv}",
        f"{issued},4100,99.00,5.44,104.44,USD,cus_acme,{inv}",
        "2026-02-10,payment,TR-881,Acme Ltd,1000,,,50.00,USD,cus_acme,INV-2026-000001,,1200,"
        "Payment of invoice INV-2026-000001",
        "2026-02-15,credit_note,CN-2026-000001,Acme Ltd,4010,-1.37,-0.27,-1.64,USD,cus_acme,"
        "INV-2026-000001,2200,1200,Documents not processed",
        "",
    ]


@pytest.mark.django_db
def test_the_rows_of_each_document_add_up_to_its_net_tax_and_total():
    _, invoice = two_outcomes_invoice()
    note = credit_line(invoice, "Platform fee", "33.33")  # 5.5%: 1.833 -> 1.83
    rows = journal_dicts(*FEB)
    for document, kind, sign in ((invoice, "invoice", 1), (note, "credit_note", -1)):
        mine = [r for r in rows if r["document_type"] == kind]
        for column, expected in (("net", document.net), ("tax", document.tax)):
            assert sum(D(r[column]) for r in mine) == sign * expected, (kind, column)
        assert sum(D(r["gross"]) for r in mine) == sign * document.total
        assert all(D(r["net"]) + D(r["tax"]) == D(r["gross"]) for r in mine)
    assert (note.net, note.tax) == (D("33.33"), D("1.83"))
    assert [(r["account_code"], r["tax"]) for r in rows if r["document_type"] == "credit_note"] == [
        ("4100", "-1.83")
    ]


@pytest.mark.django_db
def test_codes_come_from_the_seller_profile_and_the_outcome_definitions():
    two_outcomes_invoice()
    seller = f.SellerProfileFactory()
    seller.outcome_account_code, seller.fee_account_code = "7000", "7100"
    seller.tax_account_code, seller.receivables_account_code = "2500", "1400"
    seller.save()
    rows = journal_dicts(*FEB)
    assert [(r["account_code"], r["tax_account_code"], r["contra_account_code"]) for r in rows] == [
        ("4010", "2500", "1400"),  # Documents names its own account
        ("7000", "2500", "1400"),  # Tickets names none: the seller's outcome account
        ("7100", "2500", "1400"),
    ]


@pytest.mark.django_db
def test_a_void_invoice_is_booked_when_issued_and_reversed_on_its_void_day():
    """Issued 02-01, voided 03-02, reissued 03-02: February has the invoice, March its
    reversal and the new invoice; over both months the void one adds up to nothing."""
    w, invoice = two_outcomes_invoice()
    invoice_void(invoice_id=invoice.pk, reason="wrong tickets", user=None)
    voided_at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    Invoice.objects.filter(pk=invoice.pk).update(voided_at=voided_at)
    period_close(period_id=w.period().pk, reissue=True, now=voided_at + timedelta(hours=1))

    february = journal_dicts(*FEB)
    assert {(r["document_type"], r["document_number"]) for r in february} == {
        ("invoice", "INV-2026-000001")
    }
    march = journal_dicts(date(2026, 3, 1), date(2026, 3, 31))
    assert [(r["date"], r["document_type"], r["document_number"], r["gross"]) for r in march] == [
        ("2026-03-02", "invoice", "INV-2026-000002", "4.93"),
        ("2026-03-02", "invoice", "INV-2026-000002", "1.06"),
        ("2026-03-02", "invoice", "INV-2026-000002", "104.44"),
        ("2026-03-02", "invoice_void", "INV-2026-000001", "-4.93"),
        ("2026-03-02", "invoice_void", "INV-2026-000001", "-1.06"),
        ("2026-03-02", "invoice_void", "INV-2026-000001", "-104.44"),
    ]
    assert march[3]["description"] == "Void: wrong tickets"
    both = journal_dicts(date(2026, 2, 1), date(2026, 3, 31))
    void_one = [r for r in both if r["document_number"] == "INV-2026-000001"]
    assert len(void_one) == 6 and sum(D(r["gross"]) for r in void_one) == 0


@pytest.mark.django_db
def test_days_are_utc_days_and_both_ends_of_the_range_are_included():
    _, invoice = two_outcomes_invoice()
    # 2026-02-28 22:30 in New York is 2026-03-01 03:30 UTC: a March document.
    new_york = timezone(timedelta(hours=-5))
    Invoice.objects.filter(pk=invoice.pk).update(
        issued_at=datetime(2026, 2, 28, 22, 30, tzinfo=new_york)
    )
    assert journal_dicts(*FEB) == []
    march_first = journal_dicts(date(2026, 3, 1), date(2026, 3, 1))
    assert {r["date"] for r in march_first} == {"2026-03-01"} and len(march_first) == 3
    Invoice.objects.filter(pk=invoice.pk).update(
        issued_at=datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC)
    )
    assert len(journal_dicts(*FEB)) == 3
    assert len(journal_dicts(date(2026, 2, 28), date(2026, 2, 28))) == 3
    assert journal_dicts(date(2026, 3, 1), date(2026, 3, 31)) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("currency", "unit_price", "percent", "paid", "expected"),
    [
        # 38,323 at 10%: 3,832.3 -> 3,832; total 42,155.
        ("JPY", "38323", "10", "20000", ("38323", "3832", "42155", "20000")),
        # 1.234 at 5%: 0.0617 -> 0.062; total 1.296.
        ("KWD", "1.234", "5", "0.5", ("1.234", "0.062", "1.296", "0.500")),
    ],
)
def test_amounts_are_plain_decimals_at_the_currency_minor_unit(
    currency, unit_price, percent, paid, expected
):
    rate = f.TaxRateFactory(name=f"Tax {percent}%", percent=D(percent))
    w = World(currency=currency, unit_price=D(unit_price), tax_rate=rate)
    w.signals(1)
    invoice = period_close(period_id=w.period().pk, now=ISSUED)
    payment = pay(invoice, paid, date(2026, 2, 3))
    rows = journal_dicts(*FEB)
    assert rows[1]["document_number"] == f"payment {payment.pk}"  # no reference recorded
    assert [(r["net"], r["tax"], r["gross"], r["currency"]) for r in rows] == [
        (*expected[:3], currency),
        ("", "", expected[3], currency),
    ]


@pytest.mark.django_db
def test_text_that_a_spreadsheet_would_run_as_a_formula_is_quoted_and_amounts_are_not():
    _, invoice = two_outcomes_invoice()
    invoice.customer.name = '=HYPERLINK("http://evil.example","x")'
    invoice.customer.external_id = "@cus"
    invoice.customer.save()
    pay(invoice, "1.00", date(2026, 2, 3), reference="-2+3")
    note = credit_line(invoice, "Documents", "1.00")
    note.reason = "+cmd|' /C calc'!A0"
    note.save()
    rows = journal_dicts(*FEB)
    assert {r["customer"] for r in rows} == {'\'=HYPERLINK("http://evil.example","x")'}
    assert {r["customer_external_id"] for r in rows} == {"'@cus"}
    payment, credit = rows[3], rows[4]
    assert payment["document_number"] == "'-2+3"
    assert credit["description"] == "'+cmd|' /C calc'!A0"
    assert (credit["net"], credit["gross"]) == ("-1.00", "-1.20")  # 20%: 0.20


def _is_a_read(sql: str) -> bool:
    """A SELECT without a lock, or PostgreSQL's server-side cursor over one (.iterator())."""
    sql = " ".join(sql.upper().split())
    select = sql.startswith("SELECT ") or (sql.startswith("DECLARE ") and " FOR SELECT " in sql)
    return select and "FOR UPDATE" not in sql and "FOR SHARE" not in sql


@pytest.mark.django_db
def test_the_export_reads_in_a_few_queries_whatever_the_documents_and_writes_nothing(
    django_assert_max_num_queries,
):
    """Per kind of document: one query a chunk of 500, and one per prefetched relation
    (lines, taxes); plus the seller profile, the outcome definitions' codes and the
    promotional credit grants (booked to their own account)."""
    for i in range(3):
        _, invoice = two_outcomes_invoice(f"acme_{i}")
        pay(invoice, "10.00", date(2026, 2, 5))
        credit_line(invoice, "Documents", "1.00")
    with CaptureQueriesContext(connection) as queries:
        rows = journal_dicts(*FEB)
    assert len(rows) == 3 * (3 + 1 + 1)
    few = len(queries)
    assert few <= 11
    assert all(_is_a_read(q["sql"]) for q in queries), [q["sql"][:80] for q in queries]
    for i in range(3, 6):
        _, invoice = two_outcomes_invoice(f"acme_{i}")
        pay(invoice, "10.00", date(2026, 2, 5))
        credit_line(invoice, "Documents", "1.00")
    with django_assert_max_num_queries(few):
        assert len(journal_dicts(*FEB)) == 6 * 5


def test_a_range_that_ends_before_it_starts_or_is_no_date_is_refused():
    with pytest.raises(
        JournalRangeError, match="starts on 2026-02-01, after its end on 2026-01-31"
    ):
        journal_rows(first=date(2026, 2, 1), last=date(2026, 1, 31))
    with pytest.raises(
        JournalRangeError, match="--from: “2026-13-01” is not a date: give it as YYYY-MM-DD"
    ):
        journal_day("2026-13-01", "--from")
    assert journal_day(" 2026-01-31 ", "--to") == date(2026, 1, 31)


def test_a_rate_tax_follows_the_net_at_that_rate_negative_lines_included():
    """A spend cap discount (-30.00 at 20%) on the fee account beside 100.00 of outcomes:
    20% of 70.00 = 14.00, split 100 : -30 -> 20.00 and -6.00. A 0% rate adds nothing."""
    rows = account_amounts(
        [("4000", 1, D("100.00")), ("4100", 1, D("-30.00")), ("4100", None, D("5.00"))],
        [(1, D("14.00"))],
        "USD",
    )
    assert rows == [("4000", D("100.00"), D("20.00")), ("4100", D("-25.00"), D("-6.00"))]


@given(
    total=st.integers(min_value=-(10**9), max_value=10**9),
    weights=st.lists(st.integers(min_value=-(10**6), max_value=10**8), min_size=1, max_size=6),
    currency=st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_a_split_adds_up_exactly_and_each_part_is_within_a_unit_of_its_share(
    total, weights, currency
):
    unit = {"USD": D("0.01"), "JPY": D(1), "KWD": D("0.001")}[currency]
    amount = total * unit
    weights = [D(w) / 100 for w in weights]
    parts = money_split(amount, weights, currency)
    assert sum(parts) == amount
    assert all(part == part.quantize(unit) for part in parts)
    whole = sum(weights)
    if whole:
        for part, weight in zip(parts, weights, strict=True):
            assert abs(part - amount * weight / whole) < unit


@pytest.mark.django_db
def test_a_credit_at_zero_tax_books_zero_not_minus_zero():
    """An invoice without tax: its credit note's tax is 0.00 in the journal, never -0.00."""
    w = World(unit_price=D("5.00"))
    w.signals(2)
    invoice = period_close(period_id=w.period().pk)
    credit = credit_note_issue(
        invoice_id=invoice.pk,
        reason="Not delivered",
        lines=[CreditRequest(invoice.lines.get(kind="outcome").pk, D("5.00"))],
    )
    day = credit.issued_at.date()
    (row,) = [r for r in journal_dicts(day, day) if r["document_type"] == "credit_note"]
    assert (row["net"], row["tax"], row["gross"]) == ("-5.00", "0.00", "-5.00")
