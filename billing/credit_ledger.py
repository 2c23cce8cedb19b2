"""The prepaid credit ledger's writes for invoices: an invoice's draws at close, given
back by a void or a credit note, and the grants as an invoice drew them (to recompute it).
Every entry names its document; grants are locked in id order before they change."""

from decimal import Decimal

from django.db.models import F, Sum
from django.db.models.functions import Round

from billing.credits import Draw, draw_order
from billing.errors import CreditNoteError
from billing.models import CreditGrant, CreditLedgerEntry, CreditNoteLine, InvoiceLine
from billing.money import MONEY, ZERO, format_money, round_line

Kind = InvoiceLine.Kind


def drawdowns_record(*, invoice, draws: list[Draw], top_ups: list[CreditGrant], at) -> None:
    """Write the invoice's draws to the ledger (the grants are locked by the caller) and
    mark its top-ups billed."""
    entries = []
    for draw in draws:
        grant = draw.grant
        grant.remaining -= draw.units
        entries.append(
            CreditLedgerEntry(
                grant=grant,
                kind=CreditLedgerEntry.Kind.DRAWDOWN,
                amount=-draw.units,
                value=-draw.value,
                balance_after=grant.remaining,
                invoice=invoice,
                at=at,
            )
        )
    if draws:
        _apply(entries)
    if top_ups:
        CreditGrant.objects.filter(pk__in=[g.pk for g in top_ups]).update(purchase_invoice=invoice)


def credits_as_drawn(invoice) -> dict:
    """invoice_draft's `grants` and `top_ups` as the invoice's close saw them, for
    recomputing it (a dispute): each grant it drew, holding exactly what it drew (so the
    same charges draw the same, and fewer charges draw less), and the top-ups it billed.
    Nothing is saved."""
    drawn = {
        e.grant_id: -e.amount
        for e in CreditLedgerEntry.objects.filter(
            invoice=invoice, kind=CreditLedgerEntry.Kind.DRAWDOWN
        )
    }
    grants = list(CreditGrant.objects.filter(pk__in=drawn).select_related("outcome_definition"))
    for grant in grants:
        grant.remaining = drawn[grant.pk]
    return {
        "grants": sorted(grants, key=draw_order),
        "top_ups": list(CreditGrant.objects.filter(purchase_invoice=invoice).order_by("pk")),
    }


def _apply(entries: list[CreditLedgerEntry]) -> None:
    """Move each grant's balance by its entry, relative to the stored value (so that a
    draw nobody locked for could never overdraw unnoticed: the grant's check refuses a
    balance below zero), and write the entries. Rounded to the stored places: SQLite adds
    decimals as floats (0.51 + 0.06 = 0.5700000000000001, over a 0.57 grant)."""
    for entry in entries:
        CreditGrant.objects.filter(pk=entry.grant_id).update(
            remaining=Round(F("remaining") + entry.amount, precision=MONEY["decimal_places"])
        )
    CreditLedgerEntry.objects.bulk_create(entries)


def _locked(grant_ids) -> dict[int, CreditGrant]:
    return {
        g.pk: g
        for g in CreditGrant.objects.select_for_update().filter(pk__in=grant_ids).order_by("pk")
    }


def drawdowns_reverse(*, invoice, at, user=None) -> None:
    """A void gives back every draw of the invoice, once (a unique key), and its top-ups
    wait for the reissue to bill them again. Inside the void's transaction."""
    drawn = list(
        CreditLedgerEntry.objects.filter(invoice=invoice, kind=CreditLedgerEntry.Kind.DRAWDOWN)
    )
    returned = _returned(invoice)
    grants = _locked({e.grant_id for e in drawn})
    entries = []
    for entry in drawn:
        grant = grants[entry.grant_id]
        back_units = -entry.amount - returned.get(entry.grant_id, (ZERO, ZERO))[0]
        back_value = -entry.value - returned.get(entry.grant_id, (ZERO, ZERO))[1]
        if back_units <= 0:
            continue
        grant.remaining += back_units
        entries.append(
            CreditLedgerEntry(
                grant=grant,
                kind=CreditLedgerEntry.Kind.REVERSAL,
                amount=back_units,
                value=back_value,
                balance_after=grant.remaining,
                invoice=invoice,
                at=at,
                created_by=user,
                note=f"Invoice {invoice.number} voided",
            )
        )
    _apply(entries)
    invoice.credit_purchases.update(purchase_invoice=None)


def _returned(invoice) -> dict[int, tuple[Decimal, Decimal]]:
    """(units, value) already given back to each grant by the invoice's credit notes."""
    result: dict[int, tuple[Decimal, Decimal]] = {}
    for entry in CreditLedgerEntry.objects.filter(
        invoice=invoice, kind=CreditLedgerEntry.Kind.REVERSAL, credit_note__isnull=False
    ):
        units, value = result.get(entry.grant_id, (ZERO, ZERO))
        result[entry.grant_id] = (units + entry.amount, value + entry.value)
    return result


def credits_return(*, credit_note, credited_lines, at) -> None:
    """What a credit note does to prepaid credits (`credited_lines`: its (invoice line,
    amount credited) pairs), inside its transaction, the grants locked in id order:
    - a `credits_applied` line credited (a negative amount) gives that value back to its
      grant: money as is, outcomes in proportion to the line's value;
    - a `credit_purchase` line credited takes the credits bought back off the top-up, in
      proportion to the price credited (all that is left of them when the line is
      credited in full); refused when they were used already."""
    back = [
        (line, -amount)
        for line, amount in credited_lines
        if line.kind == Kind.CREDITS_APPLIED and amount < 0
    ]
    bought = [
        (line, amount)
        for line, amount in credited_lines
        if line.kind == Kind.CREDIT_PURCHASE and amount > 0
    ]
    if not back and not bought:
        return
    grants = _locked({line.credit_grant_id for line, _ in back + bought})
    entries = _given_back(credit_note, back, grants, at) + _cancelled(
        credit_note, bought, grants, at
    )
    _apply(entries)


def _given_back(credit_note, back, grants, at) -> list[CreditLedgerEntry]:
    invoice = credit_note.invoice
    drawn = {
        e.grant_id: e
        for e in CreditLedgerEntry.objects.filter(
            invoice=invoice, kind=CreditLedgerEntry.Kind.DRAWDOWN
        )
    }
    returned = _returned(invoice)
    entries = []
    for line, value in back:
        grant = grants[line.credit_grant_id]
        draw = drawn[grant.pk]
        units_before, value_before = returned.get(grant.pk, (ZERO, ZERO))
        if grant.unit == CreditGrant.Unit.MONEY:
            units = value
        elif value_before + value >= -draw.value:
            units = -draw.amount - units_before  # the last of it: exactly what was drawn
        else:
            units = -draw.amount * value / -draw.value
        units = min(units, -draw.amount - units_before)
        returned[grant.pk] = (units_before + units, value_before + value)
        grant.remaining += units
        entries.append(
            CreditLedgerEntry(
                grant=grant,
                kind=CreditLedgerEntry.Kind.REVERSAL,
                amount=units,
                value=value,
                balance_after=grant.remaining,
                invoice=invoice,
                credit_note=credit_note,
                at=at,
                note=f"Credit note {credit_note.number}",
            )
        )
    return entries


def _cancelled(credit_note, bought, grants, at) -> list[CreditLedgerEntry]:
    currency = credit_note.currency
    entries = []
    for line, credited in bought:
        grant = grants[line.credit_grant_id]
        cancelled = -(
            grant.entries.filter(kind=CreditLedgerEntry.Kind.CANCELLATION).aggregate(
                s=Sum("amount")
            )["s"]
            or ZERO
        )
        line_credited = CreditNoteLine.objects.filter(invoice_line=line).aggregate(s=Sum("amount"))[
            "s"
        ]
        if line_credited >= line.amount:  # credited in full: all that is left of it
            units = grant.amount - cancelled
        else:
            units = grant.amount * credited / line.amount
            if grant.unit == CreditGrant.Unit.MONEY:
                units = round_line(units, currency)
        if units > grant.remaining:
            most = round_line(line.amount * grant.remaining / grant.amount, currency)
            raise CreditNoteError(
                f"lines: the credits bought with “{line.description}” were used or expired: "
                f"{grant.amount_display(grant.remaining)} left of them, so at most "
                f"{format_money(most, currency)} {currency} of the purchase can be credited."
            )
        grant.remaining -= units
        entries.append(
            CreditLedgerEntry(
                grant=grant,
                kind=CreditLedgerEntry.Kind.CANCELLATION,
                amount=-units,
                value=-credited,
                balance_after=grant.remaining,
                invoice=credit_note.invoice,
                credit_note=credit_note,
                at=at,
                note=f"Credit note {credit_note.number}: purchase credited",
            )
        )
    return entries
