"""Issuing an invoice: its draft's lines, taxes and totals stored, and its gapless
number (invoicing.py drafts it)."""

from django.db import connection

from billing.invoicing import DraftInvoice
from billing.models import Invoice, InvoiceCounter, InvoiceLine, InvoiceTax, SellerProfile
from billing.models.seller import number_format_fields


def document_number_next(*, series: str, year: int) -> int:
    """The next number of a series in a year, in one statement that also locks the
    counter row until commit, so numbers are gapless: a rolled-back close gives its
    number back. The first number of a year creates its row (ignoring a concurrent
    creation, whose row the UPDATE then waits for)."""
    table = connection.ops.quote_name(InvoiceCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_number = last_number + 1 "
            "WHERE series = %s AND year = %s RETURNING last_number",
            [series, year],
        )
        row = cursor.fetchone()
    if row is None:
        InvoiceCounter.objects.bulk_create(
            [InvoiceCounter(series=series, year=year)], ignore_conflicts=True
        )
        return document_number_next(series=series, year=year)
    return row[0]


def invoice_number_assign(invoice: Invoice, number_format: str) -> None:
    """Number the invoice by the seller's format: gapless per year when the format shows
    the year, else one sequence for all years (the one numbers before formats had)."""
    year = invoice.issued_at.year if "year" in number_format_fields(number_format) else 0
    invoice.sequence_year = year
    invoice.sequence = document_number_next(series="invoice", year=year)
    invoice.number = number_format.format(year=invoice.issued_at.year, seq=invoice.sequence)


def invoice_lines_store(*, invoice: Invoice, draft: DraftInvoice, seller: SellerProfile) -> None:
    """Store the draft's lines, taxes and totals on the invoice and give it its number,
    last (the counter's row lock is held for the shortest time)."""
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            position=i,
            kind=line.kind,
            description=line.description,
            price_id=line.price_id,
            adjusted_period_id=line.adjusted_period_id,
            credit_grant_id=line.credit_grant_id,
            successes=line.successes,
            partials=line.partials,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            tax_rate=line.tax_rate,
            tax_percent=line.tax_rate.percent if line.tax_rate else None,
        )
        for i, line in enumerate(draft.lines)
    )
    InvoiceTax.objects.bulk_create(
        InvoiceTax(
            invoice=invoice,
            position=i,
            tax_rate=t.rate,
            name=t.rate.name,
            percent=t.rate.percent,
            legal_note=t.rate.legal_note,
            net=t.net,
            tax=t.tax,
        )
        for i, t in enumerate(draft.taxes)
    )
    invoice.net, invoice.tax, invoice.total = draft.net, draft.tax, draft.total
    invoice_number_assign(invoice, seller.invoice_number_format)
    invoice.save(update_fields=["net", "tax", "total", "number", "sequence_year", "sequence"])
