"""The accounting export: a journal of the invoices, voids, credit notes and payments of a
date range, one CSV row per (document, account), for an accountant's import.

What a row books (docs/accounting-export.md has the whole convention):
- invoice, invoice_void and credit_note rows: `net` to the revenue account
  (`account_code`), `tax` to the tax account (`tax_account_code`), on the other side
  `gross = net + tax` to receivables (`contra_account_code`). An invoice is positive
  (credit revenue and tax, debit receivables); its void (on the void date) and a credit
  note are negative (the reverse).
- payment rows: `gross` (the amount received) debited to the bank account
  (`account_code`), credited to receivables (`contra_account_code`); no net or tax.
So every row balances on its own, and the rows of a document add up to its total.

Tax of a document is split over its rows per tax rate, in proportion to each row's net
at that rate, by largest remainder at the minor unit (money.money_split): the rows' tax
adds up exactly to the document's tax, rate by rate.

A read: it writes nothing and locks nothing; documents are read in chunks (an iterator
per kind of document, merged by date), a few queries per chunk, never one per line.
"""

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import models
from django.db.models import Prefetch
from django.db.models.functions import Coalesce

from billing.exports import cell_text
from billing.models import (
    CreditGrant,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    OutcomeDefinition,
    Payment,
    SellerProfile,
)
from billing.money import ZERO, format_money, money_split

JOURNAL_COLUMNS = (
    "date",
    "document_type",
    "document_number",
    "customer",
    "account_code",
    "net",
    "tax",
    "gross",
    "currency",
    "customer_external_id",
    "invoice_number",
    "tax_account_code",
    "contra_account_code",
    "description",
)
CHUNK = 500
FEE_KINDS = (
    InvoiceLine.Kind.PLATFORM_FEE,
    InvoiceLine.Kind.MINIMUM_TRUE_UP,
    InvoiceLine.Kind.CAP_DISCOUNT,
)
PREPAID_KINDS = (InvoiceLine.Kind.CREDITS_APPLIED, InvoiceLine.Kind.CREDIT_PURCHASE)


class JournalDocument(models.TextChoices):
    # In this order within a day.
    INVOICE = "invoice", "Invoice"
    INVOICE_VOID = "invoice_void", "Invoice void (reversal)"
    CREDIT_NOTE = "credit_note", "Credit note"
    PAYMENT = "payment", "Payment"


RANK = {kind: rank for rank, kind in enumerate(JournalDocument.values)}


class JournalRangeError(ValueError):
    """A date range the export cannot use; the message says what to fix."""


def journal_day(value: str, field: str) -> date:
    """A day given as text (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise JournalRangeError(
            f"{field}: “{value}” is not a date: give it as YYYY-MM-DD (e.g. 2026-01-31)."
        ) from None


def journal_range_check(first: date, last: date) -> None:
    if last >= date.max:  # the range ends at midnight the day after its last day
        raise JournalRangeError(f"The last day must be before {date.max.isoformat()}.")
    if first > last:
        raise JournalRangeError(
            f"The range starts on {first.isoformat()}, after its end on {last.isoformat()}: "
            "swap the dates."
        )


@dataclass(frozen=True)
class Accounts:
    """The account codes of the export, read once: the seller profile's, and the outcome
    definitions' own (the others book to the seller's outcome revenue account)."""

    outcome: str
    fee: str
    tax: str
    receivables: str
    bank: str
    prepaid: str
    promotional: str
    promotional_grants: frozenset[int]
    by_definition: dict[int, str]

    @classmethod
    def current(cls) -> "Accounts":
        seller = SellerProfile.current()
        return cls(
            outcome=seller.outcome_account_code,
            fee=seller.fee_account_code,
            tax=seller.tax_account_code,
            receivables=seller.receivables_account_code,
            bank=seller.bank_account_code,
            prepaid=seller.prepaid_credits_account_code,
            promotional=seller.promotional_credits_account_code,
            promotional_grants=frozenset(
                CreditGrant.objects.filter(kind=CreditGrant.Kind.PROMOTIONAL).values_list(
                    "pk", flat=True
                )
            ),
            by_definition=dict(
                OutcomeDefinition.objects.exclude(account_code="").values_list("pk", "account_code")
            ),
        )

    def of_line(self, line: InvoiceLine) -> str:
        """Outcome and late-signal adjustment lines: their price's outcome definition's
        account; fees, true-ups and spend cap discounts: the fee account; credit purchases
        and paid credits applied: the prepaid credits (liability) account; promotional
        credits applied: the promotional credits (discount) account."""
        if line.kind in PREPAID_KINDS:
            if line.credit_grant_id in self.promotional_grants:
                return self.promotional
            return self.prepaid
        if line.kind in FEE_KINDS:
            return self.fee
        definition_id = line.price.outcome_definition_id if line.price_id else None
        return self.by_definition.get(definition_id, self.outcome)


def account_amounts(
    parts: Iterable[tuple[str, int | None, Decimal]],
    taxes: Iterable[tuple[int | None, Decimal]],
    currency: str,
) -> list[tuple[str, Decimal, Decimal]]:
    """(account, net, tax) per account, in the order the lines first name them, from the
    lines' (account, tax rate id, net) and the document's (tax rate id, tax) per rate.
    A rate's tax is split over the accounts by their net at that rate (at no line's
    rate, by their whole net), so the accounts' tax adds up to the document's."""
    nets: dict[str, Decimal] = {}
    by_rate: dict[int | None, dict[str, Decimal]] = {}
    for account, rate_id, net in parts:
        nets[account] = nets.get(account, ZERO) + net
        at_rate = by_rate.setdefault(rate_id, {})
        at_rate[account] = at_rate.get(account, ZERO) + net
    accounts = list(nets)
    tax = dict.fromkeys(accounts, ZERO)
    for rate_id, amount in taxes:
        if not accounts or not amount:
            continue
        at_rate = by_rate.get(rate_id) or nets
        weights = [at_rate.get(account, ZERO) for account in accounts]
        for account, share in zip(accounts, money_split(amount, weights, currency), strict=True):
            tax[account] += share
    return [(account, nets[account], tax[account]) for account in accounts]


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _text(value: str) -> str:
    """Free text on one line, safe from formula injection."""
    return cell_text(" ".join(str(value).split()))


def _amount(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency, grouping=False)


def _customer(customer) -> str:
    return customer.legal_name or customer.name


def _document_rows(
    *,
    day: date,
    kind: str,
    number: str,
    customer,
    currency: str,
    invoice_number: str,
    description: str,
    amounts: list[tuple[str, Decimal, Decimal]],
    sign: int,
    accounts: Accounts,
) -> list[dict[str, str]]:
    common = {
        "date": day.isoformat(),
        "document_type": kind,
        "document_number": _text(number),
        "customer": _text(_customer(customer)),
        "currency": currency,
        "customer_external_id": _text(customer.external_id),
        "invoice_number": _text(invoice_number),
        "tax_account_code": _text(accounts.tax),
        "contra_account_code": _text(accounts.receivables),
        "description": _text(description),
    }
    return [
        {
            **common,
            "account_code": _text(account),
            "net": _amount(sign * net, currency),
            "tax": _amount(sign * tax, currency),
            "gross": _amount(sign * (net + tax), currency),
        }
        for account, net, tax in amounts
    ]


# --- The documents of a range, each kind in date order -----------------------------------
def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The range as instants in UTC: [first 00:00, the day after last 00:00)."""
    start = datetime.combine(first, time.min, tzinfo=UTC)
    return start, datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)


def _lines_prefetch(model, *related):
    return Prefetch("lines", model.objects.select_related(*related))


def _invoice_amounts(invoice: Invoice, accounts: Accounts) -> list:
    return account_amounts(
        ((accounts.of_line(line), line.tax_rate_id, line.amount) for line in invoice.lines.all()),
        ((tax.tax_rate_id, tax.tax) for tax in invoice.taxes.all()),
        invoice.currency,
    )


def _invoice_documents(invoices, at: str) -> Iterator[Invoice]:
    return (
        invoices.select_related("customer", "period")
        .prefetch_related(_lines_prefetch(InvoiceLine, "price"), "taxes")
        .order_by(at, "id")
        .iterator(chunk_size=CHUNK)
    )


def _issued(start: datetime, end: datetime, accounts: Accounts) -> Iterator[tuple]:
    """Every invoice issued in the range, void or not: it was issued."""
    invoices = Invoice.objects.filter(issued_at__gte=start, issued_at__lt=end)
    for seq, invoice in enumerate(_invoice_documents(invoices, "issued_at")):
        day = _utc_day(invoice.issued_at)
        period = invoice.period
        if period is None:
            description = "Prepaid credits purchase"
        else:
            last_day = _utc_day(period.ends_at - timedelta(days=1))
            description = f"Period {_utc_day(period.starts_at)} to {last_day}"
        rows = _document_rows(
            day=day,
            kind=JournalDocument.INVOICE,
            number=invoice.number or "",
            customer=invoice.customer,
            currency=invoice.currency,
            invoice_number=invoice.number or "",
            description=description,
            amounts=_invoice_amounts(invoice, accounts),
            sign=1,
            accounts=accounts,
        )
        yield (day, RANK[JournalDocument.INVOICE], seq), rows


def _voided(start: datetime, end: datetime, accounts: Accounts) -> Iterator[tuple]:
    """Every invoice voided in the range, reversed in full on its void day (an invoice
    voided before the void time was kept: on its issue day)."""
    invoices = (
        Invoice.objects.filter(status=Invoice.Status.VOID)
        .annotate(void_at=Coalesce("voided_at", "issued_at"))
        .filter(void_at__gte=start, void_at__lt=end)
    )
    for seq, invoice in enumerate(_invoice_documents(invoices, "void_at")):
        day = _utc_day(invoice.void_at)
        rows = _document_rows(
            day=day,
            kind=JournalDocument.INVOICE_VOID,
            number=invoice.number or "",
            customer=invoice.customer,
            currency=invoice.currency,
            invoice_number=invoice.number or "",
            description=f"Void: {invoice.void_reason}",
            amounts=_invoice_amounts(invoice, accounts),
            sign=-1,
            accounts=accounts,
        )
        yield (day, RANK[JournalDocument.INVOICE_VOID], seq), rows


def _credited(start: datetime, end: datetime, accounts: Accounts) -> Iterator[tuple]:
    notes = (
        CreditNote.objects.filter(issued_at__gte=start, issued_at__lt=end)
        .select_related("customer", "invoice")
        .prefetch_related(_lines_prefetch(CreditNoteLine, "invoice_line__price"), "taxes")
        .order_by("issued_at", "id")
        .iterator(chunk_size=CHUNK)
    )
    for seq, note in enumerate(notes):
        day = _utc_day(note.issued_at)
        amounts = account_amounts(
            (
                (accounts.of_line(line.invoice_line), line.tax_rate_id, line.amount)
                for line in note.lines.all()
            ),
            ((tax.tax_rate_id, tax.tax) for tax in note.taxes.all()),
            note.currency,
        )
        rows = _document_rows(
            day=day,
            kind=JournalDocument.CREDIT_NOTE,
            number=note.number,
            customer=note.customer,
            currency=note.currency,
            invoice_number=note.invoice.number or "",
            description=note.reason,
            amounts=amounts,
            sign=-1,
            accounts=accounts,
        )
        yield (day, RANK[JournalDocument.CREDIT_NOTE], seq), rows


def _received(first: date, last: date, accounts: Accounts) -> Iterator[tuple]:
    payments = (
        Payment.objects.filter(received_on__gte=first, received_on__lte=last)
        .select_related("invoice__customer")
        .order_by("received_on", "id")
        .iterator(chunk_size=CHUNK)
    )
    for seq, payment in enumerate(payments):
        invoice, customer = payment.invoice, payment.invoice.customer
        row = {
            "date": payment.received_on.isoformat(),
            "document_type": JournalDocument.PAYMENT.value,
            "document_number": _text(payment.reference or f"payment {payment.pk}"),
            "customer": _text(_customer(customer)),
            "account_code": _text(accounts.bank),
            "gross": _amount(payment.amount, payment.currency),
            "currency": payment.currency,
            "customer_external_id": _text(customer.external_id),
            "invoice_number": _text(invoice.number or ""),
            "contra_account_code": _text(accounts.receivables),
            "description": _text(f"Payment of invoice {invoice.number}"),
        }
        yield (payment.received_on, RANK[JournalDocument.PAYMENT], seq), [row]


def journal_rows(*, first: date, last: date) -> Iterator[dict[str, str]]:
    """The journal of the days `first` to `last` (both included, UTC days), by date:
    within a day, invoices, voids, credit notes, then payments, each in the order they
    happened. Raises JournalRangeError on a range that ends before it starts (before
    any row is read)."""
    journal_range_check(first, last)
    return _journal(first, last)


def _journal(first: date, last: date) -> Iterator[dict[str, str]]:
    accounts = Accounts.current()
    start, end = _bounds(first, last)
    streams = (
        _issued(start, end, accounts),
        _voided(start, end, accounts),
        _credited(start, end, accounts),
        _received(first, last, accounts),
    )
    for _key, rows in heapq.merge(*streams, key=lambda document: document[0]):
        yield from rows
