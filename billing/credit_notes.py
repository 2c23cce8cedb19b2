"""Credit notes: issuing a credit against an issued invoice (in full, per line, or a
stated amount on a line), with tax reversed at the invoice's rates and its own gapless
number.

Tax of a credit note: per rate, the invoice's percent applied once to the net credited
at that rate, rounded half-up to the minor unit; never more than what is left of the
invoice's tax at that rate, and exactly what is left once the rate's net is fully
credited. So credit notes never add up to more than the invoice, whatever their sizes.

A request may carry a `reference` (the API's Idempotency-Key, the admin form's token):
sent again with it, the credit note issued first is returned and nothing more is issued
(unique per invoice in the database).

Sent after the issuing transaction commits:
- `credit_note_issued(credit_note_id=...)`: the credit note exists (PDF, webhook);
- `delivery_requested(delivery_id=...)`: its e-mail's row (billing.delivery) is waiting.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import django.dispatch
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.credit_ledger import credits_return
from billing.credit_note_credits import credits_follow, merged, refuse_negative_rate
from billing.delivery import credit_note_delivery_create
from billing.errors import ClosingError, CreditNoteError
from billing.invoice_store import document_number_next
from billing.models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteTax,
    Invoice,
    InvoiceLine,
    InvoiceTax,
)
from billing.models.seller import number_format_fields
from billing.money import ZERO, format_money, round_line
from billing.receivables import MAX_AMOUNT
from billing.taxes import rate_tax
from customers.currencies import minor_unit

Kind = InvoiceLine.Kind

credit_note_issued = django.dispatch.Signal()
SERIES = "credit_note"


@dataclass(frozen=True)
class CreditRequest:
    """Credit `amount` (net, positive, in the invoice's minor unit) of one invoice line;
    None: all that is left of it."""

    invoice_line_id: int
    amount: Decimal | None = None


def line_credited(invoice: Invoice) -> dict[int, Decimal]:
    """Net credited so far on each line of the invoice, by line id."""
    rows = (
        CreditNoteLine.objects.filter(credit_note__invoice=invoice)
        .values("invoice_line_id")
        .annotate(credited=Sum("amount"))
        .order_by()
    )
    return {r["invoice_line_id"]: round_line(r["credited"], invoice.currency) for r in rows}


def line_creditable(invoice: Invoice) -> list[tuple[InvoiceLine, Decimal]]:
    """Each line of the invoice with the net left to credit on it (0 when none)."""
    credited = line_credited(invoice)
    lines = invoice.lines.select_related("price", "credit_grant", "tax_rate")
    return [(line, line.amount - credited.get(line.pk, ZERO)) for line in lines]


def line_creditable_alone(invoice: Invoice) -> list[tuple[InvoiceLine, Decimal]]:
    """What one line may be credited on its own: what is left of it, at most what is left
    of the invoice's net (a spend cap's discount makes the lines add up to more than the
    invoice: 30,000 of outcomes capped at 20,000 credits at most 20,000)."""
    notes = CreditNote.objects.filter(invoice=invoice).aggregate(net=Sum("net"))["net"]
    creditable = line_creditable(invoice)
    # Prepaid credits paid part of it: what they paid may be credited too (and given back).
    credits = sum((-left for line, left in creditable if line.kind == Kind.CREDITS_APPLIED), ZERO)
    net_left = invoice.net + credits - round_line(notes or ZERO, invoice.currency)
    return [
        (line, left if line.kind == Kind.CREDITS_APPLIED else min(left, net_left))
        for line, left in creditable
    ]


# An amount as typed: digits, thousands separators in threes, a decimal point (no
# exponent: "1e3" is not an amount anyone types for 1,000).
AMOUNT_TEXT = re.compile(r"^(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")


def _amount(value, currency: str, field: str) -> Decimal:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("-") and AMOUNT_TEXT.match(text[1:]):
            raise CreditNoteError(f"{field}: give a positive amount.")
        if not AMOUNT_TEXT.match(text):
            raise CreditNoteError(
                f"{field}: “{value}” is not an amount; write it like 1250.50 or 1,250.50."
            )
        value = text.replace(",", "")
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise CreditNoteError(f"{field}: “{value}” is not a number.") from None
    if not amount.is_finite() or amount <= 0:
        raise CreditNoteError(f"{field}: give a positive amount.")
    if amount >= MAX_AMOUNT:
        raise CreditNoteError(f"{field}: {amount} is more than any invoice; give the net.")
    if amount != round_line(amount, currency):
        raise CreditNoteError(
            f"{field}: {currency} amounts have {minor_unit(currency)} decimal places at most."
        )
    return amount


def _credit_lines(invoice: Invoice, requests: list[CreditRequest] | None) -> list[tuple]:
    """(invoice line, net credited) pairs; None requests: everything left of every line
    (a spend cap's negative line too, so a full credit is exactly what is left)."""
    if requests is None:
        return [(line, left) for line, left in line_creditable(invoice) if left != 0]
    by_id = {line.pk: (line, left) for line, left in line_creditable_alone(invoice)}
    picked, seen = [], set()
    for i, request in enumerate(requests):
        field = f"lines[{i}]"
        if request.invoice_line_id not in by_id:
            raise CreditNoteError(
                f"{field}.invoice_line: line {request.invoice_line_id} is not a line of "
                f"invoice {invoice.number}."
            )
        if request.invoice_line_id in seen:
            raise CreditNoteError(f"{field}.invoice_line: the same line is named twice.")
        seen.add(request.invoice_line_id)
        line, left = by_id[request.invoice_line_id]
        if line.kind == Kind.CREDITS_APPLIED:
            picked.append(_credits_back(line, -left, request, invoice, field))
            continue
        if left <= 0:
            raise CreditNoteError(
                f"{field}.invoice_line: nothing is left to credit on “{line.description}”."
            )
        amount = (
            left
            if request.amount is None
            else _amount(request.amount, invoice.currency, f"{field}.amount")
        )
        if amount > left:
            raise CreditNoteError(
                f"{field}.amount: at most {format_money(left, invoice.currency)} "
                f"{invoice.currency} is left to credit on “{line.description}”."
            )
        picked.append((line, amount))
    if not picked:
        raise CreditNoteError("lines: name at least one line to credit.")
    # Credits paid charges first: crediting them gives credits back, not money.
    return merged(picked, credits_follow(line_creditable(invoice), picked))


def _credits_back(line, left, request, invoice, field) -> tuple:
    """A `credits_applied` line: the amount is the prepaid credit given back (at most what
    the line applied and was not given back yet); it is credited as a negative amount."""
    currency = invoice.currency
    if left <= 0:
        raise CreditNoteError(
            f"{field}.invoice_line: the credits of “{line.description}” were all given back."
        )
    amount = (
        left if request.amount is None else _amount(request.amount, currency, f"{field}.amount")
    )
    if amount > left:
        raise CreditNoteError(
            f"{field}.amount: at most {format_money(left, currency)} {currency} of "
            f"“{line.description}” is left to give back."
        )
    return (line, -amount)


def _taxes(invoice: Invoice, lines: list[tuple]) -> list[CreditNoteTax]:
    """The tax reversed per rate of the invoice (see the module's docstring)."""
    invoice_taxes = {t.tax_rate_id: t for t in InvoiceTax.objects.filter(invoice=invoice)}
    done = (
        CreditNoteTax.objects.filter(credit_note__invoice=invoice)
        .values("tax_rate_id")
        .annotate(net=Sum("net"), tax=Sum("tax"))
        .order_by()
    )
    done = {r["tax_rate_id"]: r for r in done}
    nets: dict[int, Decimal] = {}
    for line, amount in lines:
        if line.tax_rate_id is not None and line.tax_rate_id in invoice_taxes:
            nets[line.tax_rate_id] = nets.get(line.tax_rate_id, ZERO) + amount
    currency = invoice.currency
    taxes = []
    for position, (rate_id, net) in enumerate(nets.items()):
        charged = invoice_taxes[rate_id]
        before = done.get(rate_id, {"net": ZERO, "tax": ZERO})
        net_before = round_line(before["net"] or ZERO, currency)
        tax_before = round_line(before["tax"] or ZERO, currency)
        tax_left = charged.tax - tax_before
        if net_before + net >= charged.net:  # the rate's net is fully credited now
            tax = tax_left
        else:
            tax = min(rate_tax(net, charged.percent, currency), tax_left)
        taxes.append(
            CreditNoteTax(
                tax_rate_id=rate_id,
                name=charged.name,
                percent=charged.percent,
                legal_note=charged.legal_note,
                net=net,
                tax=max(tax, ZERO),
                position=position,
            )
        )
    return taxes


REFERENCE_MAX = CreditNote._meta.get_field("reference").max_length


def _same_request(note: CreditNote, lines: list[CreditRequest] | None) -> bool:
    """Whether `lines` asks for what `note` credited (an amount of None: anything left;
    credits given back with the charges they paid were not named)."""
    if lines is None:
        return True
    credited = dict(note.lines.values_list("invoice_line_id", "amount"))
    followed = set(
        note.lines.filter(invoice_line__kind=Kind.CREDITS_APPLIED).values_list(
            "invoice_line_id", flat=True
        )
    )
    if (
        not {r.invoice_line_id for r in lines}
        <= set(credited)
        <= ({r.invoice_line_id for r in lines} | followed)
    ):
        return False
    return all(r.amount is None or credited[r.invoice_line_id] == r.amount for r in lines)


def _replayed(invoice: Invoice, reference: str, reason: str, lines) -> CreditNote | None:
    """The credit note issued first with this reference, when the request is the same;
    a different request under a used reference is refused."""
    earlier = CreditNote.objects.filter(invoice=invoice, reference=reference).first()
    if earlier is None:
        return None
    if earlier.reason != reason or not _same_request(earlier, lines):
        raise CreditNoteError(
            f"reference: “{reference}” was used for credit note {earlier.number} "
            f"({format_money(earlier.total, earlier.currency)} {earlier.currency}), which "
            "credited something else; use a new reference for a new credit note."
        )
    return earlier


def credit_note_issue(
    *,
    invoice_id: int,
    reason: str,
    lines: list[CreditRequest] | None = None,
    user=None,
    now: datetime | None = None,
) -> CreditNote:
    """Issue a credit note against a live invoice (`lines` None: in full), under the
    invoice's row lock: its lines never credit more than is left of each invoice line,
    its total never more than is left of the invoice (a database check too). An invoice
    with payments becomes paid once payments and credits cover it."""
    note, _ = credit_note_issue_once(
        invoice_id=invoice_id, reason=reason, lines=lines, user=user, now=now
    )
    return note


def credit_note_issue_once(
    *,
    invoice_id: int,
    reason: str,
    lines: list[CreditRequest] | None = None,
    reference: str = "",
    user=None,
    now: datetime | None = None,
) -> tuple[CreditNote, bool]:
    """credit_note_issue, idempotent by `reference`: (credit note, created). The same
    reference and request again returns the credit note issued first, created False
    (looked up under the invoice's lock, so two concurrent tries issue one; the unique
    key (invoice, reference) holds it in the database too). Its e-mail to the billing
    contacts is recorded with it and queued after commit."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    reference = (reference or "").strip()
    if not reason:
        raise CreditNoteError("reason: say why the invoice is credited.")
    if len(reference) > REFERENCE_MAX:
        raise CreditNoteError(f"reference: at most {REFERENCE_MAX} characters.")
    from billing.services import seller_profile_complete  # services imports this module

    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if reference:
            earlier = _replayed(invoice, reference, reason, lines)
            if earlier is not None:
                return earlier, False
        if invoice.status == Invoice.Status.VOID:
            raise CreditNoteError(
                f"invoice: invoice {invoice.number} is void; a void invoice bills nothing "
                "and is not credited."
            )
        picked = _credit_lines(invoice, lines)
        taxes = _taxes(invoice, picked)
        net = sum((amount for _, amount in picked), ZERO)
        tax = sum((t.tax for t in taxes), ZERO)
        currency = invoice.currency
        refuse_negative_rate(picked, currency=invoice.currency)
        gives_back = any(amount < 0 and line.credit_grant_id for line, amount in picked)
        if net < 0 or (net == 0 and not gives_back):
            raise CreditNoteError("lines: nothing is left to credit on this invoice.")
        if net + tax > invoice.amount_creditable:
            left = format_money(invoice.amount_creditable, currency)
            hint = ""
            if invoice.lines.filter(kind=Kind.CREDITS_APPLIED).exists():
                hint = " Prepaid credits paid part of it: give them back on their line too."
            raise CreditNoteError(
                f"lines: the credit note would credit {format_money(net + tax, currency)} "
                f"{currency}; at most {left} {currency} is left of invoice {invoice.number}." + hint
            )
        try:
            seller = seller_profile_complete()
        except ClosingError as exc:
            raise CreditNoteError(f"seller: {exc}") from None
        number_format = seller.credit_note_number_format
        year = now.year if "year" in number_format_fields(number_format) else 0
        note = CreditNote(
            invoice=invoice,
            customer_id=invoice.customer_id,
            currency=currency,
            issued_at=now,
            reason=reason,
            reference=reference,
            net=net,
            tax=tax,
            total=net + tax,
            seller=seller.details(),
            buyer=invoice.customer.details(),
            issued_by=user,
        )
        # The number last: the counter's row lock is held for the shortest time.
        note.sequence_year = year
        note.sequence = document_number_next(series=SERIES, year=year)
        note.number = number_format.format(year=now.year, seq=note.sequence)
        note.save()
        CreditNoteLine.objects.bulk_create(
            CreditNoteLine(
                credit_note=note,
                invoice_line=line,
                description=line.description,
                amount=amount,
                tax_rate_id=line.tax_rate_id,
                tax_percent=line.tax_percent,
                position=i,
            )
            for i, (line, amount) in enumerate(picked)
        )
        for t in taxes:
            t.credit_note = note
        CreditNoteTax.objects.bulk_create(taxes)
        credits_return(credit_note=note, credited_lines=picked, at=now)
        invoice.amount_credited += note.total
        fields = ["amount_credited"]
        paid_off = invoice.amount_paid + invoice.amount_credited >= invoice.total
        if invoice.status == Invoice.Status.ISSUED and invoice.amount_paid and paid_off:
            invoice.status, invoice.paid_at = Invoice.Status.PAID, now
            fields += ["status", "paid_at"]
        invoice._change_reason = f"Credit note {note.number}: {reason}"
        invoice.save(update_fields=fields)
        credit_note_delivery_create(note=note)
        transaction.on_commit(
            lambda: credit_note_issued.send(sender=CreditNote, credit_note_id=note.pk)
        )
    return note, True
