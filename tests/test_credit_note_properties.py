"""Whatever invoice (random lines and tax rates) and whatever sequence of credit requests
(whole, a whole line, an amount on a line): the credit notes never add up to more than
the invoice, per rate never reverse more tax than was charged, per line never more than
its net, and once everything is credited they add up to the invoice exactly."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.credit_notes import CreditRequest, credit_note_issue
from billing.errors import CreditNoteError
from billing.invoicing import DraftLine
from billing.models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteTax,
    Invoice,
    InvoiceLine,
    InvoiceTax,
    TaxRate,
)
from billing.taxes import invoice_taxes
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db
AT = datetime(2026, 2, 3, tzinfo=UTC)
PERCENTS = [D("20"), D("5"), D("7.7")]


def invoice_with(lines) -> Invoice:
    """An issued USD invoice with `lines` [(cents, rate index or None)], taxed as closing
    taxes (billing.taxes.invoice_taxes: per rate, rounded once)."""
    w = World()
    rates = [TaxRate.objects.create(name=f"T{p}", percent=p) for p in PERCENTS]
    drafts = [
        DraftLine(
            kind=InvoiceLine.Kind.OUTCOME,
            description=f"line {i}",
            amount=D(cents).scaleb(-2),
            tax_rate=None if which is None else rates[which],
        )
        for i, (cents, which) in enumerate(lines)
    ]
    taxes = invoice_taxes(drafts, "USD")
    net = sum((d.amount for d in drafts), D(0))
    tax = sum((t.tax for t in taxes), D(0))
    invoice = Invoice.objects.create(
        number="T-1",
        sequence_year=2026,
        sequence=1,
        period=w.period(),
        customer=w.customer,
        currency="USD",
        issued_at=AT,
        due_at=AT,
        net=net,
        tax=tax,
        total=net + tax,
    )
    for i, d in enumerate(drafts):
        InvoiceLine.objects.create(
            invoice=invoice,
            kind=d.kind,
            description=d.description,
            amount=d.amount,
            tax_rate=d.tax_rate,
            tax_percent=d.tax_rate.percent if d.tax_rate else None,
            position=i,
        )
    for i, t in enumerate(taxes):
        InvoiceTax.objects.create(
            invoice=invoice,
            tax_rate=t.rate,
            name=t.rate.name,
            percent=t.rate.percent,
            net=t.net,
            tax=t.tax,
            position=i,
        )
    return invoice


def check(invoice: Invoice) -> None:
    invoice.refresh_from_db()
    notes = CreditNote.objects.filter(invoice=invoice)
    total = notes.aggregate(s=Sum("total"))["s"] or D(0)
    assert total == invoice.amount_credited <= invoice.total
    for charged in invoice.taxes.all():
        reversed_ = CreditNoteTax.objects.filter(
            credit_note__invoice=invoice, tax_rate=charged.tax_rate
        ).aggregate(s=Sum("tax"))["s"] or D(0)
        assert reversed_ <= charged.tax, charged.name
    for line in invoice.lines.all():
        credited = CreditNoteLine.objects.filter(invoice_line=line).aggregate(s=Sum("amount"))
        assert (credited["s"] or D(0)) <= line.amount


REQUEST = st.one_of(
    st.just(("full",)),
    st.tuples(st.just("line"), st.integers(0, 3)),
    st.tuples(st.just("amount"), st.integers(0, 3), st.integers(1, 50_000)),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    lines=st.lists(
        st.tuples(st.integers(1, 100_000), st.sampled_from([None, 0, 1, 2])),
        min_size=1,
        max_size=4,
    ),
    requests=st.lists(REQUEST, max_size=6),
)
def test_credit_notes_never_exceed_the_invoice_and_add_up_to_it_exactly(lines, requests):
    with transaction.atomic():
        invoice = invoice_with(lines)
        ids = list(invoice.lines.order_by("position").values_list("pk", flat=True))
        for request in requests:
            if request[0] == "full":
                asked = None
            elif request[0] == "line":
                asked = [CreditRequest(ids[request[1] % len(ids)])]
            else:
                asked = [CreditRequest(ids[request[1] % len(ids)], D(request[2]).scaleb(-2))]
            try:
                credit_note_issue(invoice_id=invoice.pk, reason="property", lines=asked)
            except CreditNoteError as exc:  # above what is left, or nothing left
                assert "left" in str(exc), exc
            check(invoice)
        if invoice.amount_creditable > 0:
            credit_note_issue(invoice_id=invoice.pk, reason="the rest")
        check(invoice)
        assert invoice.amount_credited == invoice.total and invoice.amount_due == 0
        for charged in invoice.taxes.all():
            reversed_ = CreditNoteTax.objects.filter(
                credit_note__invoice=invoice, tax_rate=charged.tax_rate
            ).aggregate(s=Sum("tax"))["s"]
            assert reversed_ == charged.tax
        transaction.set_rollback(True)  # the next example starts from an empty database
