"""E-mailing invoices, credit notes and reminders, at most once per delivery row.

A delivery row (InvoiceDelivery) exists before anything is sent: the closing transaction
creates the invoice e-mail's, the credit note's issuing transaction the credit note
e-mail's, the reminder beat one per overdue threshold, Finance a resend. A worker
claims the row with one conditional UPDATE (pending/retrying, due -> sending); only
the worker that won sends, so two runs of the same task send one e-mail. A failure is
retried with exponential backoff; a worker killed while sending leaves the row in
`sending`, which nothing re-sends automatically (at most once): the admin shows it with
its claim time and Finance resends.
"""

import logging
from datetime import UTC, datetime, timedelta

import django.dispatch
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.documents import PdfRenderError, credit_note_pdf_store, invoice_pdf_store
from billing.errors import StateError
from billing.models import CreditNote, Invoice, InvoiceDelivery, SellerProfile
from billing.money import format_money

logger = logging.getLogger(__name__)

State = InvoiceDelivery.State
Kind = InvoiceDelivery.Kind

# Sent after a delivery row is committed (kwargs: delivery_id): billing.receivers queues
# its e-mail. (The invoice e-mail's row is announced by services.invoice_issued.)
delivery_requested = django.dispatch.Signal()

BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
# A pending row younger than this is left to the task its creator queued on commit.
REQUEUE_GRACE = timedelta(minutes=2)


def backoff(attempts: int) -> timedelta:
    """The wait before the next attempt: 1 min x 2^attempts, at most an hour."""
    return min(BACKOFF_FIRST * 2**attempts, BACKOFF_MAX)


def delivery_claim(*, delivery_id: int, now: datetime) -> bool:
    """pending/retrying (and due) -> sending, attempts + 1, in one conditional UPDATE.
    True only for the one caller that changed the row."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    claimed = InvoiceDelivery.objects.filter(
        due, pk=delivery_id, state__in=(State.PENDING, State.RETRYING)
    ).update(state=State.SENDING, attempts=F("attempts") + 1, claimed_at=now)
    return claimed == 1


def _finish(delivery: InvoiceDelivery, **fields) -> None:
    # Only from `sending`, which only the claiming worker moves out of.
    InvoiceDelivery.objects.filter(pk=delivery.pk, state=State.SENDING).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)


def _failed(delivery: InvoiceDelivery, error: str, *, now: datetime, retry: bool) -> None:
    if retry and delivery.attempts < settings.INVOICE_DELIVERY_MAX_ATTEMPTS:
        _finish(
            delivery,
            state=State.RETRYING,
            last_error=error,
            next_attempt_at=now + backoff(delivery.attempts),
        )
    else:
        _finish(delivery, state=State.FAILED, last_error=error, next_attempt_at=None)
    logger.warning("delivery %s of invoice %s: %s", delivery.pk, delivery.invoice.number, error)


def _not_sendable(delivery: InvoiceDelivery, now: datetime) -> str:
    """Why this e-mail must not go out (any more), or ''."""
    invoice = delivery.invoice
    if invoice.status == Invoice.Status.VOID and delivery.credit_note_id is None:
        return f"Not sent: invoice {invoice.number} was voided."
    if delivery.kind == Kind.REMINDER and invoice.amount_due <= 0:
        return f"Not sent: invoice {invoice.number} is paid or credited (nothing is due)."
    if not invoice.customer.billing_emails:
        return (
            f"Customer {invoice.customer.name} has no billing e-mail: add one on the "
            "customer page, then resend."
        )
    return ""


def _credit_note_text(note: CreditNote, invoice: Invoice, seller_name: str) -> tuple[str, str]:
    """Subject and body of a credit note's e-mail: the credit note and its invoice."""
    currency = invoice.currency
    total = f"{format_money(note.total, currency)} {currency}"
    due = f"{format_money(invoice.amount_due, currency)} {currency}"
    subject = f"{seller_name}: credit note {note.number} for invoice {invoice.number}, {total}"
    body = (
        f"Please find attached credit note {note.number} for invoice {invoice.number}.\n"
        f"Total credited: {total}.\nReason: {note.reason}\n"
        f"Amount still due on invoice {invoice.number}: {due}.\n"
    )
    return subject, body


def delivery_message(delivery: InvoiceDelivery, *, pdf: bytes, now: datetime) -> EmailMessage:
    """The e-mail of a delivery: invoice, credit note or reminder, the PDF attached as
    <number>.pdf (the credit note's own for a credit note)."""
    invoice = delivery.invoice
    seller = invoice.seller or {}
    seller_name = seller.get("legal_name") or SellerProfile.current().legal_name
    currency = invoice.currency
    total = f"{format_money(invoice.total, currency)} {currency}"
    due_on = f"{invoice.due_at:%Y-%m-%d}"
    instructions = seller.get("payment_instructions") or ""
    number = invoice.number
    if delivery.credit_note_id is not None:
        note = delivery.credit_note
        subject, body = _credit_note_text(note, invoice, seller_name)
        instructions, number = "", note.number
    elif delivery.kind == Kind.REMINDER:
        days = invoice.days_overdue(now)
        amount_due = f"{format_money(invoice.amount_due, currency)} {currency}"
        subject = f"{seller_name}: reminder, invoice {invoice.number} is {days} days overdue"
        body = (
            f"Invoice {invoice.number} of {total} was due on {due_on} and is {days} days "
            f"overdue.\nAmount still due: {amount_due}.\n"
        )
    else:
        subject = f"{seller_name}: invoice {invoice.number}, {total}"
        body = f"Please find attached invoice {invoice.number}.\nTotal: {total}, due {due_on}.\n"
    if instructions:
        body += f"\nHow to pay (reference {invoice.number}):\n{instructions}\n"
    body += f"\n{seller_name}\n"
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=SellerProfile.current().email or settings.DEFAULT_FROM_EMAIL,
        to=invoice.customer.billing_emails,
    )
    message.attach(f"{number}.pdf", bytes(pdf), "application/pdf")
    return message


def delivery_send(*, delivery_id: int, now: datetime | None = None) -> InvoiceDelivery | None:
    """Send one delivery's e-mail, at most once.

    Acts only if it claims the row; returns it in its new state (sent, retrying, failed),
    or None if another worker has it, it is done, or its next attempt is not due. The
    invoice is never changed. A failure of the PDF or of the mail server is retried with
    backoff up to INVOICE_DELIVERY_MAX_ATTEMPTS; a customer without a billing e-mail
    fails at once (retrying will not add one; Finance resends once it is fixed)."""
    now = now or timezone.now()
    if not delivery_claim(delivery_id=delivery_id, now=now):
        return None
    delivery = InvoiceDelivery.objects.select_related("invoice__customer", "credit_note").get(
        pk=delivery_id
    )
    try:
        # First the PDF: every issued document keeps one, whether its e-mail can go or not.
        if delivery.credit_note_id is not None:
            document = credit_note_pdf_store(delivery.credit_note_id)
        else:
            document = invoice_pdf_store(delivery.invoice_id)
        reason = _not_sendable(delivery, now)
        message = None if reason else delivery_message(delivery, pdf=document.content, now=now)
    except PdfRenderError as exc:
        _failed(delivery, str(exc), now=now, retry=True)
        return delivery
    except Exception as exc:  # nothing was sent: the row must not stay in `sending`
        error = f"The e-mail could not be prepared: {type(exc).__name__}: {exc}"
        _failed(delivery, error, now=now, retry=True)
        return delivery
    if reason:
        _failed(delivery, reason, now=now, retry=False)
        return delivery
    try:
        message.send()
    except Exception as exc:  # SMTP refusals, timeouts, DNS: all retried the same way
        _failed(
            delivery,
            f"The mail server refused it: {type(exc).__name__}: {exc}",
            now=now,
            retry=True,
        )
        return delivery
    _finish(
        delivery,
        state=State.SENT,
        sent_at=timezone.now(),
        recipients="\n".join(message.to),
        last_error="",
        next_attempt_at=None,
    )
    logger.info("sent %s of invoice %s to %s", delivery.kind, delivery.invoice.number, message.to)
    return delivery


def deliveries_due(*, now: datetime) -> list[int]:
    """Deliveries waiting whose attempt is due, for the beat to queue again (a lost
    broker message must not lose an e-mail). Rows in `sending` are not among them."""
    return list(
        InvoiceDelivery.objects.filter(
            Q(state=State.RETRYING, next_attempt_at__lte=now)
            | Q(
                state=State.PENDING,
                next_attempt_at__isnull=True,
                created_at__lte=now - REQUEUE_GRACE,
            )
            | Q(state=State.PENDING, next_attempt_at__lte=now)
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _requested(delivery: InvoiceDelivery) -> None:
    transaction.on_commit(
        lambda: delivery_requested.send(sender=InvoiceDelivery, delivery_id=delivery.pk)
    )


def invoice_resend(*, invoice_id: int, user=None) -> InvoiceDelivery:
    """A new e-mail of the invoice (kind resend), queued after commit. Any number of
    resends may exist; each one is sent at most once. A void invoice is not resent."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status == Invoice.Status.VOID:
            raise StateError(f"Invoice {invoice.number} is void: it is not resent.")
        # A resend still waiting is the one asked for (a double click sends one e-mail).
        waiting = invoice.deliveries.filter(
            kind=Kind.RESEND, state__in=(State.PENDING, State.RETRYING)
        ).first()
        if waiting is not None:
            return waiting
        delivery = InvoiceDelivery.objects.create(
            invoice=invoice, kind=Kind.RESEND, requested_by=user
        )
        _requested(delivery)
    return delivery


def credit_note_delivery_create(*, note: CreditNote) -> InvoiceDelivery:
    """The credit note's e-mail row, in the issuing transaction (at most one: a unique
    constraint), queued after commit."""
    delivery = InvoiceDelivery.objects.create(
        invoice_id=note.invoice_id, credit_note=note, kind=Kind.CREDIT_NOTE
    )
    _requested(delivery)
    return delivery


def credit_note_resend(*, credit_note_id: int, user=None) -> InvoiceDelivery:
    """A new e-mail of the credit note (kind credit_note_resend), queued after commit;
    one still waiting is the one asked for (a double click sends one e-mail)."""
    with transaction.atomic():
        note = CreditNote.objects.select_for_update().get(pk=credit_note_id)
        waiting = note.deliveries.filter(
            kind=Kind.CREDIT_NOTE_RESEND, state__in=(State.PENDING, State.RETRYING)
        ).first()
        if waiting is not None:
            return waiting
        delivery = InvoiceDelivery.objects.create(
            invoice_id=note.invoice_id,
            credit_note=note,
            kind=Kind.CREDIT_NOTE_RESEND,
            requested_by=user,
        )
        _requested(delivery)
    return delivery


def reminders_create(*, now: datetime | None = None) -> list[int]:
    """One reminder row for each overdue open invoice that reached a threshold of
    INVOICE_REMINDER_DAYS above the highest it was reminded of; returns the new rows.

    Never twice for a threshold (a unique constraint; a concurrent run loses the insert
    and moves on). When several thresholds are reached at once (the invoice was already
    60 days overdue when reminders were turned on) only the highest is created and sent:
    a customer gets one e-mail, and lower thresholds are not sent later either."""
    now = now or timezone.now()
    thresholds = sorted(set(settings.INVOICE_REMINDER_DAYS))
    if not thresholds:
        return []
    created: list[int] = []
    # days_overdue counts UTC days: due on day D is T days overdue from day D + T.
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    overdue = Invoice.objects.overdue(now).filter(
        due_at__lt=today - timedelta(days=thresholds[0] - 1)
    )
    for invoice in overdue.order_by("pk"):
        days = invoice.days_overdue(now)
        reminded = invoice.deliveries.filter(kind=Kind.REMINDER).values_list(
            "threshold_days", flat=True
        )
        floor = max(reminded, default=0)
        reached = [t for t in thresholds if floor < t <= days]
        if not reached:
            continue
        try:
            with transaction.atomic():
                delivery = InvoiceDelivery.objects.create(
                    invoice=invoice, kind=Kind.REMINDER, threshold_days=reached[-1]
                )
                _requested(delivery)
        except IntegrityError:  # another run created it: it sends it
            continue
        created.append(delivery.pk)
    return created
