"""Outcome disputes: a customer (statement link) or an account manager contests billed
outcomes; accepting them credits exactly what they added, and they are never billed again.

- Opening: from the statement, one outcome billed and charged by that (live) invoice,
  within the agreement's `dispute_window_days` of the invoice's issue; from the admin,
  outcomes of one customer, billed by one live invoice or not billed yet, any time. A
  signal is disputed at most once, ever (a unique key). A dispute from the statement
  whose credit is at most the agreement's `dispute_auto_accept_up_to` is accepted at
  once (no one resolved it).
- Accepting: outcomes billed by a live invoice get one credit note for what they added
  (dispute_credits.py); outcomes not billed yet are simply never billed. Either way
  their marks say "disputed" (not counted) and rating never charges them, late or not.
  The dispute follows its outcomes: if their invoice was voided and reissued meanwhile,
  the reissue (which left them billed, as the dispute was open) is credited.
- Rejecting: a note says why; the outcomes stay billed.

Locks, in this order, so concurrent acceptances never credit twice: the dispute's row
(its state), the customer's unsettled periods (a close that would bill its outcomes
waits, or is waited for), the invoice that bills them.

Sent after the transaction commits:
- `dispute_opened(dispute_id=...)`
- `dispute_resolved(dispute_id=...)`: accepted (with its credit note, if any) or rejected.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

import django.dispatch
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.credit_notes import CreditRequest, credit_note_issue
from billing.dispute_credits import dispute_credit_compute
from billing.errors import BillingError, DisputeError
from billing.margins import margin_figures_refresh
from billing.models import (
    BilledSignal,
    BillingPeriod,
    Dispute,
    DisputedOutcome,
    Invoice,
    OutcomeDefinition,
)
from billing.money import ZERO, format_money, round_line

logger = logging.getLogger(__name__)
dispute_opened = django.dispatch.Signal()
dispute_resolved = django.dispatch.Signal()
Outcome = BilledSignal.Outcome
CHARGED = (Outcome.SUCCESS, Outcome.PARTIAL)


def dispute_window_closes(invoice: Invoice) -> datetime:
    """When the customer's dispute window of the invoice closes."""
    return invoice.issued_at + timedelta(days=invoice.period.agreement.dispute_window_days)


def _earlier(signal_ids) -> str | None:
    """What became of the disputes these signals were in, or None."""
    earlier = (
        DisputedOutcome.objects.filter(signal_id__in=signal_ids)
        .select_related("dispute")
        .order_by("signal_id")
        .first()
    )
    if earlier is None:
        return None
    dispute = earlier.dispute
    state = dispute.get_state_display().lower()
    when = f" on {dispute.resolved_at:%Y-%m-%d}" if dispute.resolved_at else ""
    return (
        f"outcome: signal {earlier.signal_id} was disputed already (dispute {dispute.pk}, "
        f"{state}{when}); an outcome is disputed once."
    )


def _charged_or_refuse(mark: BilledSignal, invoice: Invoice) -> None:
    if mark.outcome not in CHARGED or not mark.counted or not mark.fraction:
        raise DisputeError(
            f"outcome: signal {mark.signal_id} was not charged on invoice {invoice.number} "
            f"(a {mark.get_outcome_display().lower()}, never counted): nothing to dispute."
        )


def _create(*, customer_id, invoice, source, reason, signal_ids, user, now) -> Dispute:
    """The dispute and its outcomes; a signal disputed meanwhile (the unique key) is
    refused with what became of the first dispute."""
    try:
        with transaction.atomic():
            dispute = Dispute.objects.create(
                customer_id=customer_id,
                invoice=invoice,
                source=source,
                reason=reason,
                opened_at=now,
                opened_by=user,
            )
            DisputedOutcome.objects.bulk_create(
                DisputedOutcome(dispute=dispute, signal_id=pk, reason=reason) for pk in signal_ids
            )
    except IntegrityError:
        raise DisputeError(
            _earlier(signal_ids) or "outcome: already disputed; reload the page."
        ) from None
    transaction.on_commit(lambda: dispute_opened.send(sender=Dispute, dispute_id=dispute.pk))
    return dispute


def text_check(text: str | None, field: str) -> str:
    """Free text as typed, stripped; refused when it holds a NUL character (a database
    stores none) or lone surrogates."""
    text = (text or "").strip()
    if "\x00" in text:
        raise DisputeError(f"{field}: remove the NUL character from the text.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise DisputeError(f"{field}: the text holds characters that are not text.") from None
    return text


REASON_MAX = 2000


def _reason(reason: str | None) -> str:
    reason = text_check(reason, "reason")
    if not reason:
        raise DisputeError("reason: say why the outcome was not delivered as billed.")
    if len(reason) > REASON_MAX:
        raise DisputeError(
            f"reason: at most {REASON_MAX:,} characters, please (this one has {len(reason):,})."
        )
    return reason


def dispute_open_from_statement(
    *, invoice_id: int, signal_id, reason: str, now: datetime | None = None
) -> Dispute:
    """The customer disputes one outcome billed and charged by the statement's invoice,
    within the dispute window. Refused, changing nothing: a void invoice, after the
    window, an outcome this invoice did not bill (another customer's: a forged or
    foreign link), one already disputed, one never charged. Accepted at once when its
    credit is at most the agreement's auto-accept limit."""
    now = now or timezone.now()
    reason = _reason(reason)
    invoice = Invoice.objects.select_related("period__agreement").get(pk=invoice_id)
    if invoice.status == Invoice.Status.VOID:
        raise DisputeError(
            f"invoice: invoice {invoice.number} is void; its outcomes are billed by its "
            "replacement, whose statement you may dispute them from."
        )
    closes = dispute_window_closes(invoice)
    if now > closes:
        raise DisputeError(
            f"outcome: the dispute window of invoice {invoice.number} closed on "
            f"{closes:%Y-%m-%d}; contact your account manager."
        )
    try:
        signal_id = int(signal_id)
    except (TypeError, ValueError):
        raise DisputeError("outcome: name an outcome of this invoice.") from None
    mark = BilledSignal.objects.filter(signal_id=signal_id, invoice=invoice).first()
    if mark is None:
        raise DisputeError(f"outcome: invoice {invoice.number} did not bill this outcome.")
    if (earlier := _earlier([signal_id])) is not None:
        raise DisputeError(earlier)
    _charged_or_refuse(mark, invoice)
    with transaction.atomic():
        dispute = _create(
            customer_id=invoice.customer_id,
            invoice=invoice,
            source=Dispute.Source.STATEMENT,
            reason=reason,
            signal_ids=[signal_id],
            user=None,
            now=now,
        )
        limit = invoice.period.agreement.dispute_auto_accept_up_to
        if limit is not None:
            shown = f"{format_money(limit, invoice.currency)} {invoice.currency}"
            try:  # a savepoint: whatever refuses the acceptance, the dispute stays open
                dispute = _accept(
                    dispute_id=dispute.pk,
                    user=None,
                    note=f"accepted automatically up to {shown} per invoice",
                    now=now,
                    up_to=limit,
                )
            except BillingError as exc:
                logger.warning("dispute %s not accepted automatically: %s", dispute.pk, exc)
    return dispute


def dispute_open(
    *, customer_id: int, signal_ids: list[int], reason: str, user=None, now=None
) -> Dispute:
    """An account manager disputes outcomes of one customer, any time: billed by one live
    invoice (and charged there), or not billed yet (outcomes an agreement of the
    customer prices). Refused, changing nothing, otherwise."""
    now = now or timezone.now()
    reason = _reason(reason)
    signal_ids = sorted(set(signal_ids))
    if not signal_ids:
        raise DisputeError("outcome: pick at least one outcome.")
    from agents.models import Signal

    signals = {s.pk: s for s in Signal.objects.filter(pk__in=signal_ids)}
    for pk in signal_ids:
        signal = signals.get(pk)
        if signal is None or signal.customer_id != customer_id:
            raise DisputeError(f"outcome: signal {pk} is not an outcome of this customer.")
    if (earlier := _earlier(signal_ids)) is not None:
        raise DisputeError(earlier)
    marks = {m.signal_id: m for m in BilledSignal.objects.filter(signal_id__in=signal_ids)}
    invoices = {m.invoice_id for m in marks.values()}
    if marks and (len(marks) != len(signal_ids) or len(invoices) != 1):
        raise DisputeError(
            "outcome: pick outcomes billed by one invoice, or outcomes not billed yet, "
            "in one dispute; open one dispute for each."
        )
    invoice = None
    if marks:
        invoice = Invoice.objects.get(pk=invoices.pop())
        for mark in marks.values():
            _charged_or_refuse(mark, invoice)
    else:
        priced = OutcomeDefinition.objects.filter(prices__agreement__customer_id=customer_id)
        pairs = set(priced.values_list("agent_id", "event_name"))
        for signal in signals.values():
            if (signal.agent_id, signal.event_name) not in pairs:
                raise DisputeError(
                    f"outcome: signal {signal.pk} ({signal.event_name}) is not an outcome "
                    "any agreement of this customer prices."
                )
    with transaction.atomic():
        return _create(
            customer_id=customer_id,
            invoice=invoice,
            source=Dispute.Source.ADMIN,
            reason=reason,
            signal_ids=signal_ids,
            user=user,
            now=now,
        )


def _locked_open(dispute_id: int) -> Dispute:
    dispute = Dispute.objects.select_for_update().get(pk=dispute_id)
    if dispute.state != Dispute.State.OPEN:
        state = dispute.get_state_display().lower()
        raise DisputeError(
            f"dispute: dispute {dispute.pk} was {state} on {dispute.resolved_at:%Y-%m-%d} "
            "already; nothing changed."
        )
    return dispute


def dispute_accept(*, dispute_id: int, user=None, note: str = "", now=None) -> Dispute:
    """Accept an open dispute: its billed outcomes are credited on their live invoice by
    one credit note (none when they added nothing), all of them are marked disputed and
    never billed again, the invoice's margins lose the credited revenue. Exactly once:
    a second acceptance, concurrent or not, finds the dispute resolved."""
    return _accept(dispute_id=dispute_id, user=user, note=note, now=now or timezone.now())


def _auto_credited(invoice: Invoice) -> Decimal:
    """Net credited so far on the invoice by disputes accepted automatically."""
    credited = DisputedOutcome.objects.filter(
        dispute__invoice=invoice,
        dispute__source=Dispute.Source.STATEMENT,
        dispute__state=Dispute.State.ACCEPTED,
        dispute__resolved_by__isnull=True,
    ).aggregate(total=Sum("credited"))["total"]
    return round_line(credited or ZERO, invoice.currency)


def _accept(*, dispute_id: int, user, note: str, now, up_to=None) -> Dispute:
    """Accept (see dispute_accept); with `up_to`, only if it credits at most that much
    (net), else the dispute stays open."""
    note = text_check(note, "note")
    with transaction.atomic():
        dispute = _locked_open(dispute_id)
        signal_ids = list(dispute.outcomes.values_list("signal_id", flat=True))
        list(
            BillingPeriod.objects.unsettled()
            .filter(agreement__customer_id=dispute.customer_id)
            .select_for_update()
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        invoice_ids = set(
            BilledSignal.objects.filter(signal_id__in=signal_ids).values_list(
                "invoice_id", flat=True
            )
        )
        if len(invoice_ids) > 1:
            raise DisputeError(
                "dispute: its outcomes are billed by several invoices now; reject it and "
                "credit each invoice with a credit note."
            )
        if invoice_ids:
            invoice = (
                Invoice.objects.select_for_update(of=("self",))
                .select_related("period__agreement")
                .get(pk=invoice_ids.pop())
            )
            billed = list(
                BilledSignal.objects.filter(signal_id__in=signal_ids, invoice=invoice)
                .order_by("signal_id")
                .values_list("signal_id", flat=True)
            )
            credit = dispute_credit_compute(invoice=invoice, signal_ids=billed)
            if up_to is not None and _auto_credited(invoice) + credit.net > up_to:
                return dispute  # the limit is per invoice, summed over its disputes
            if credit.lines:
                try:
                    dispute.credit_note = credit_note_issue(
                        invoice_id=invoice.pk,
                        reason=f"Dispute {dispute.pk}: {dispute.reason}",
                        lines=[
                            CreditRequest(line.pk, abs(amount)) for line, amount in credit.lines
                        ],
                        user=user,
                        now=now,
                    )
                except BillingError as exc:
                    raise DisputeError(f"dispute: {exc}") from None
            as_billed = dict(
                BilledSignal.objects.filter(signal_id__in=billed).values_list(
                    "signal_id", "outcome"
                )
            )
            counted = dict(
                BilledSignal.objects.filter(signal_id__in=billed).values_list(
                    "signal_id", "counted"
                )
            )
            BilledSignal.objects.filter(signal_id__in=billed).update(
                outcome=Outcome.DISPUTED, counted=False
            )
            outcomes = list(dispute.outcomes.filter(signal_id__in=billed))
            for outcome in outcomes:
                outcome.credited = credit.shares.get(outcome.signal_id)
                outcome.billed_outcome = as_billed[outcome.signal_id]
                outcome.billed_counted = counted[outcome.signal_id]
            DisputedOutcome.objects.bulk_update(
                outcomes, ["credited", "billed_outcome", "billed_counted"]
            )
            dispute.invoice = invoice
        dispute.state, dispute.resolved_at, dispute.resolved_by = (
            Dispute.State.ACCEPTED,
            now,
            user,
        )
        dispute.resolution_note = note
        dispute._change_reason = "accepted"
        dispute.save()
        if dispute.invoice_id and dispute.invoice.status != Invoice.Status.VOID:
            margin_figures_refresh(invoice_id=dispute.invoice_id)
        transaction.on_commit(lambda: dispute_resolved.send(sender=Dispute, dispute_id=dispute.pk))
    return dispute


def dispute_reject(*, dispute_id: int, note: str, user=None, now=None) -> Dispute:
    """Reject an open dispute with a note saying why; its outcomes stay billed (and, a
    signal being disputed once, cannot be disputed again)."""
    now = now or timezone.now()
    note = text_check(note, "note")
    if not note:
        raise DisputeError("note: say why the dispute is rejected; the customer is told.")
    with transaction.atomic():
        dispute = _locked_open(dispute_id)
        dispute.state, dispute.resolved_at, dispute.resolved_by = (
            Dispute.State.REJECTED,
            now,
            user,
        )
        dispute.resolution_note = note
        dispute._change_reason = "rejected"
        dispute.save()
        transaction.on_commit(lambda: dispute_resolved.send(sender=Dispute, dispute_id=dispute.pk))
    return dispute
