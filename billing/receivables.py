"""Receivables: payments recorded against invoices, what is still due, and how overdue.

A payment is recorded under the invoice's row lock, so concurrent payments add up and
never exceed the total (also a database check); an invoice is paid when they reach it.
What is due nets payments and credit notes: total - amount_paid - amount_credited,
here in SQL as `Invoice.amount_due` computes it in Python.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

import django.dispatch
from django.db import models, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.functions import Round
from django.utils import timezone

from billing.errors import PaymentError, StateError
from billing.models import Invoice, Payment
from billing.money import MONEY, ZERO, format_money, round_line
from customers.currencies import minor_unit

# Sent after a payment commits (kwargs: invoice_id, payment_id, paid: the invoice is paid).
payment_recorded = django.dispatch.Signal()

# Above any invoice (stored amounts have 12 integer digits); 1e999 would not even round.
MAX_AMOUNT = Decimal(10) ** 12

# Days overdue of each aging bucket: (label, first day, last day or None).
AGING_BUCKETS = (
    ("current", None, 0),
    ("1–30", 1, 30),
    ("31–60", 31, 60),
    ("61–90", 61, 90),
    ("90+", 91, None),
)


def payment_amount_check(amount, currency: str) -> Decimal:
    """The amount as a Decimal in the currency's minor unit, or PaymentError."""
    try:
        amount = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise PaymentError(f"amount: “{amount}” is not a number.") from None
    if not amount.is_finite() or amount <= 0:
        raise PaymentError("amount: give a positive amount.")
    if amount >= MAX_AMOUNT:
        raise PaymentError(f"amount: {amount} is too large; give the amount credited.")
    if amount != round_line(amount, currency):
        raise PaymentError(
            f"amount: {currency} amounts have {minor_unit(currency)} decimal places at most."
        )
    return amount


def payment_record(
    *,
    invoice_id: int,
    amount,
    currency: str,
    received_on: date,
    reference: str = "",
    user=None,
    now: datetime | None = None,
) -> tuple[Payment, bool]:
    """Record a payment of an invoice: (payment, created). The same reference with the
    same amount again returns the payment recorded first (a retried request records
    nothing twice); a payment in another currency, above the amount due, on a void or
    paid invoice, or dated in the future is refused with what to fix."""
    now = now or timezone.now()
    reference = reference.strip()
    if received_on > now.date():
        raise PaymentError(f"received_on: {received_on} is in the future.")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if currency != invoice.currency:
            raise PaymentError(
                f"currency: invoice {invoice.number} is in {invoice.currency}, the payment in "
                f"{currency}: record the {invoice.currency} amount that was credited."
            )
        amount = payment_amount_check(amount, invoice.currency)
        if reference:
            earlier = invoice.payments.filter(reference=reference).first()
            if earlier is not None:
                if earlier.amount == amount:
                    return earlier, False
                raise PaymentError(
                    f"reference: a payment “{reference}” of "
                    f"{format_money(earlier.amount, currency)} {currency} is already recorded "
                    f"on invoice {invoice.number}."
                )
        try:
            invoice.payment_add(amount=amount, at=now)
        except StateError as exc:
            raise PaymentError(f"amount: {exc}") from None
        payment = Payment.objects.create(
            invoice=invoice,
            amount=amount,
            currency=currency,
            received_on=received_on,
            reference=reference,
            recorded_by=user,
        )
        paid = invoice.status == Invoice.Status.PAID
        transaction.on_commit(
            lambda: payment_recorded.send(
                sender=Payment, invoice_id=invoice.pk, payment_id=payment.pk, paid=paid
            )
        )
    return payment, True


def receivables_aging(*, now: datetime) -> list[dict]:
    """What is open, per currency and aging bucket (days past the due date): one query,
    summed here. Rows: {"currency", "buckets": {label: amount}, "counts": {label: number
    of invoices}, "total", "invoices"}."""
    rows: dict[str, dict] = {}
    fields = ("currency", "total", "amount_paid", "amount_credited", "due_at", "status")
    for invoice in Invoice.objects.open().only(*fields):
        row = rows.setdefault(
            invoice.currency,
            {
                "currency": invoice.currency,
                "buckets": {label: ZERO for label, _, _ in AGING_BUCKETS},
                "counts": {label: 0 for label, _, _ in AGING_BUCKETS},
                "total": ZERO,
                "invoices": 0,
            },
        )
        days = invoice.days_overdue(now)
        label = next(
            label
            for label, first, last in AGING_BUCKETS
            if (first is None or days >= first) and (last is None or days <= last)
        )
        due = invoice.amount_due
        row["buckets"][label] += due
        row["counts"][label] += 1
        row["total"] += due
        row["invoices"] += 1
    return [rows[c] for c in sorted(rows)]


class PaymentState(models.TextChoices):
    """What the invoice list shows of an invoice: its status, and for an issued one
    whether credit notes cover it, it is overdue (wins) or partly paid."""

    ISSUED = "issued", "Issued"
    PARTLY_PAID = "partly_paid", "Partly paid"
    OVERDUE = "overdue", "Overdue"
    PAID = "paid", "Paid"
    CREDITED = "credited", "Credited in full"
    VOID = "void", "Void"


def _day_start(now: datetime, days_back: int = 0) -> datetime:
    """The UTC midnight `days_back` days before `now`'s UTC day."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_back)


def settled_by() -> Round:
    """Payments plus credit notes, in SQL, rounded as stored (SQLite adds as floats)."""
    return Round(F("amount_paid") + F("amount_credited"), 8)


def invoices_with_payment_state(queryset: QuerySet, *, now: datetime) -> QuerySet:
    """`queryset` annotated with `payment_state` (a PaymentState) and `due_amount` (what
    is left to pay, payments and credit notes netted; 0 once void), in SQL: the list
    shows and filters them without a query per row. Overdue as `Invoice.days_overdue`:
    past the due day, something due. Credited in full: credit notes cover the total
    (with no payment; an invoice paid in part and credited the rest is paid)."""
    open_ = Q(status=Invoice.Status.ISSUED, total__gt=settled_by())
    return queryset.annotate(
        payment_state=Case(
            When(status=Invoice.Status.VOID, then=Value(PaymentState.VOID)),
            When(status=Invoice.Status.PAID, then=Value(PaymentState.PAID)),
            When(
                total__gt=0,
                amount_credited__gte=F("total"),
                then=Value(PaymentState.CREDITED),
            ),
            When(open_ & Q(due_at__lt=_day_start(now)), then=Value(PaymentState.OVERDUE)),
            When(amount_paid__gt=0, then=Value(PaymentState.PARTLY_PAID)),
            default=Value(PaymentState.ISSUED),
            output_field=models.CharField(),
        ),
        due_amount=Case(
            When(open_, then=F("total") - F("amount_paid") - F("amount_credited")),
            default=Value(ZERO),
            output_field=models.DecimalField(**MONEY),
        ),
    )


def invoices_in_bucket(queryset: QuerySet, label: str, *, now: datetime) -> QuerySet:
    """The open invoices of `queryset` in the aging bucket `label` (of AGING_BUCKETS),
    the same that `receivables_aging` counts there."""
    _, first, last = next(b for b in AGING_BUCKETS if b[0] == label)
    queryset = queryset.open()
    # days overdue = (now's UTC day - the due day): at least `first`, at most `last`.
    if first is None:
        queryset = queryset.filter(due_at__gte=_day_start(now))
    else:
        queryset = queryset.filter(due_at__lt=_day_start(now, first - 1))
    if last is not None and first is not None:
        queryset = queryset.filter(due_at__gte=_day_start(now, last))
    return queryset
