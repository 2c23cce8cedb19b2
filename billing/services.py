"""Closing billing periods, the entry points: close (exactly once), preview (never
writes), void and reissue. The stages are periods -> rating -> invoicing -> margins;
this module runs them in one transaction and keeps the invariants."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import django.dispatch
from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from agents.models import Cost, Signal
from agents.traces import costs_linked
from billing.attribution import costs_attribute
from billing.credit_ledger import drawdowns_record, drawdowns_reverse
from billing.credits import grants_live, grants_lock, top_ups_pending
from billing.errors import ClosingError
from billing.invoice_store import invoice_lines_store
from billing.invoicing import DraftInvoice, invoice_draft
from billing.margins import margin_figures_compute
from billing.models import (
    BilledSignal,
    BillingPeriod,
    Invoice,
    InvoiceDelivery,
    MarginFigure,
    SellerProfile,
)
from billing.money import ZERO
from billing.periods import periods_unsettled_before
from billing.rating import Marks, marks_insert
from billing.top_up_invoices import top_up_purchase_cancel
from billing.versions import TermsByVersion, period_priced
from config.db import statistics_ensure

__all__ = [
    "ClosingError",
    "invoice_preview",
    "invoice_void",
    "invoice_void_and_reissue",
    "period_close",
    "period_closed",
    "period_reissue",
]
logger = logging.getLogger(__name__)

# Sent after a closing transaction commits (kwargs: period_id). billing.receivers queues
# the margin check (when the agreement has a margin target); webhooks records period.closed.
period_closed = django.dispatch.Signal()
# Sent after an invoice is issued and committed (kwargs: invoice_id, delivery_id):
# billing.receivers queues its PDF and its e-mail, outside the closing transaction.
invoice_issued = django.dispatch.Signal()
# Sent after an invoice is voided and committed (kwargs: invoice_id): its watermarked
# PDF is rendered.
invoice_voided = django.dispatch.Signal()


def seller_profile_complete() -> SellerProfile:
    """The seller profile, if every field a legal invoice prints is filled in."""
    seller = SellerProfile.current()
    if seller.missing:
        raise ClosingError(
            "The seller profile is incomplete: fill in "
            + ", ".join(seller.missing)
            + " in Admin › Billing › Seller profile, then close again."
        )
    return seller


@contextmanager
def closing_session(*, read_only: bool = False) -> Iterator[None]:
    """A transaction with the planner settings closing was measured with (PostgreSQL).

    Each query of a close touches one agreement's rows, found by index:
    - parallel workers cost more to start (milliseconds a query) than they save;
    - a hash join, or a sequential scan inside a nested loop, reads a whole table: the
      planner picks them for the marks' NOT EXISTS when the marks table has no
      statistics yet (a fresh install) or grows faster than them, and the scan also
      reads the marks the same INSERT has just written: quadratic in the signals
      (measured: 53 s for a first close of 100,000 signals, 1.2 s without);
    - statement_timeout: a close whose client died stops and releases its locks.
    With read_only (a preview) the database itself refuses any write, and the
    transaction (or savepoint) is rolled back at the end, settings included."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            timeout_ms = int(settings.CLOSING_STATEMENT_TIMEOUT_SECONDS * 1000)
            with connection.cursor() as cursor:
                if read_only:  # allowed at any point, inside a savepoint too
                    cursor.execute("SET LOCAL transaction_read_only = on")
                cursor.execute(
                    "SET LOCAL max_parallel_workers_per_gather = 0; "
                    "SET LOCAL enable_hashjoin = off; SET LOCAL enable_seqscan = off; "
                    f"SET LOCAL statement_timeout = {timeout_ms}"
                )
        yield
        if read_only:
            transaction.set_rollback(True)


# Tables a close reads by index, and the size past which one without statistics is
# analysed before closing (a small table is read the same whatever the plan).
ANALYSED_MODELS = (Signal, Cost, BilledSignal)


def period_close(
    *, period_id: int, now: datetime | None = None, reissue: bool = False
) -> Invoice | None:
    """Issue the period's invoice, exactly once.

    The period row is locked first; a period that is not open is left alone, so a
    duplicated, retried or concurrent close does nothing more. With reissue, only a
    voided period is closed, by an invoice that replaces its void one. Everything
    (marks, invoice, lines, number, margins, state) is one transaction: a failure
    leaves nothing. Returns the invoice, or None when there was nothing to do.
    """
    now = now or timezone.now()
    statistics_ensure(ANALYSED_MODELS)
    with closing_session():
        earlier_unsettled = (
            BillingPeriod.objects.unsettled()
            .filter(agreement=OuterRef("agreement"), starts_at__lt=OuterRef("starts_at"))
            .order_by("starts_at")
        )
        period = (
            BillingPeriod.objects.select_for_update(of=("self",))
            .select_related("agreement__customer__tax_rate", "agreement__tax_rate")
            .annotate(earlier_unsettled=Subquery(earlier_unsettled.values("pk")[:1]))
            .get(pk=period_id)
        )
        expected = BillingPeriod.State.VOIDED if reissue else BillingPeriod.State.OPEN
        if period.state != expected:
            return None
        if period.earlier_unsettled:
            earlier = BillingPeriod.objects.get(pk=period.earlier_unsettled)
            raise ClosingError(f"Close the earlier period {earlier} first.")
        seller = seller_profile_complete()
        agreement = period.agreement
        customer = agreement.customer
        terms = customer.payment_terms_days
        if terms is None:
            terms = agreement.payment_terms_days
        replaces = None
        if reissue:
            replaces = (
                period.invoices.filter(status=Invoice.Status.VOID, replaced_by__isnull=True)
                .order_by("-voided_at")
                .first()
            )
        linked = costs_attribute(customer_id=agreement.customer_id, period=period)
        if linked:  # costs of outcomes billed before: their invoices' margins are refreshed
            transaction.on_commit(lambda: costs_linked.send(sender=Cost, signal_ids=linked))
        invoice = Invoice.objects.create(
            period=period,
            customer_id=agreement.customer_id,
            currency=agreement.currency,
            issued_at=now,
            due_at=now + timedelta(days=terms),
            total=ZERO,
            replaces=replaces,
            seller=seller.details(),
            buyer=customer.details(),
        )
        # Its agreement version's terms, read with the period locked: a version saved
        # meanwhile (billing/version_changes.py locks the periods) is seen whole or not.
        pricing = TermsByVersion(agreement)
        period.agreement, prices = pricing.of(period)
        for price in prices:
            marks_insert(invoice=invoice, period=period, price=price)
        marks = Marks.of_invoice(invoice.pk)
        grants, top_ups = grants_lock(customer_id=customer.pk, period=period)
        draft = invoice_draft(
            period=period,
            prices=prices,
            marks=marks,
            invoice_id=invoice.pk,
            grants=grants,
            top_ups=top_ups,
            price_then=pricing.price_then,
        )
        margins = margin_figures_compute(
            marks=marks,
            invoice=invoice,
            period=period,
            lines=draft.lines,
            prices=prices,
            totals=draft.totals,
        )
        invoice_lines_store(invoice=invoice, draft=draft, seller=seller)
        drawdowns_record(invoice=invoice, draws=draft.draws, top_ups=draft.top_ups, at=now)
        MarginFigure.objects.bulk_create(margins)
        period.close(at=now, reissue=reissue)
        delivery = InvoiceDelivery.objects.create(
            invoice=invoice, kind=InvoiceDelivery.Kind.INVOICE
        )
        transaction.on_commit(
            lambda: invoice_issued.send(
                sender=Invoice, invoice_id=invoice.pk, delivery_id=delivery.pk
            )
        )
        transaction.on_commit(lambda: period_closed.send(sender=BillingPeriod, period_id=period.pk))
    logger.info("closed period %s with invoice %s", period_id, invoice.number)
    return invoice


def invoice_preview(
    *, period: BillingPeriod, grants: list | None = None, margins: bool = True
) -> DraftInvoice:
    """The invoice closing `period` would issue now, with its margins, by the same rating
    and invoicing as a close. It never writes, locks or creates anything: `period` may be
    unsaved (see periods.period_current). Earlier periods without a live invoice are
    listed in `unsettled`; their signals are theirs, never shown as late signals here.

    `grants` (in drawing order, `remaining` as given) stands for the customer's live
    grants: the live balance passes what earlier open periods would leave of them
    (billing/balances.py), and needs no margins (`margins=False` leaves them empty)."""
    with closing_session(read_only=True):
        pricing = TermsByVersion(period.agreement)
        period, prices = period_priced(period, pricing)
        unsettled = periods_unsettled_before(period)
        marks = Marks.preview(
            period=period,
            prices=prices,
            unsettled_from=unsettled[0].starts_at if unsettled else None,
        )
        customer_id = period.agreement.customer_id
        draft = invoice_draft(
            period=period,
            prices=prices,
            marks=marks,
            grants=grants_live(customer_id=customer_id, period=period)
            if grants is None
            else grants,
            top_ups=top_ups_pending(customer_id=customer_id),
            price_then=pricing.price_then,
        )
        draft.unsettled = unsettled
        if margins:
            draft.margins = margin_figures_compute(
                marks=marks,
                invoice=None,
                period=period,
                lines=draft.lines,
                prices=prices,
                totals=draft.totals,
            )
    return draft


def invoice_void(*, invoice_id: int, reason: str, user=None) -> Invoice:
    """Void an issued invoice. It keeps its lines, marked void with the reason (audited);
    its signals are released to be billed again and its period becomes voided: later
    periods wait for it, and Finance reissues it once the data is corrected."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        at = timezone.now()
        if invoice.kind == Invoice.Kind.TOP_UP:  # no period: the credits sold are cancelled
            invoice.void(reason=reason, user=user, at=at)
            top_up_purchase_cancel(invoice=invoice, at=at, user=user)
            transaction.on_commit(
                lambda: invoice_voided.send(sender=Invoice, invoice_id=invoice.pk)
            )
            return invoice
        period = BillingPeriod.objects.select_for_update().get(pk=invoice.period_id)
        invoice.void(reason=reason, user=user, at=at)
        period.void()
        drawdowns_reverse(invoice=invoice, at=at, user=user)
        invoice.marks.all().delete()
        invoice.margins.all().delete()  # the replacement's figures take their place
        transaction.on_commit(lambda: invoice_voided.send(sender=Invoice, invoice_id=invoice.pk))
    return invoice


def period_reissue(*, period_id: int, now: datetime | None = None) -> Invoice:
    """Issue the replacement invoice of a voided period from today's data."""
    invoice = period_close(period_id=period_id, now=now, reissue=True)
    if invoice is None:
        period = BillingPeriod.objects.get(pk=period_id)
        state = period.get_state_display().lower()
        raise ClosingError(f"Period {period} is {state}, not voided: nothing to reissue.")
    return invoice


def invoice_void_and_reissue(*, invoice_id: int, reason: str, user=None) -> Invoice:
    """Void an issued invoice and issue its replacement from today's data, in one
    transaction, so the period is never seen without a live invoice."""
    with transaction.atomic():
        invoice = invoice_void(invoice_id=invoice_id, reason=reason, user=user)
        if invoice.kind == Invoice.Kind.TOP_UP:
            raise ClosingError(
                f"Invoice {invoice.number} bills a credit top-up: it has no reissue. Void it "
                "(its credits are cancelled), and record a new top-up if one is wanted."
            )
        return period_reissue(period_id=invoice.period_id)
