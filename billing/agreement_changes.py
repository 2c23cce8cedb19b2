"""Price agreements changed or deleted outside the admin (Paid's PUT and DELETE orders).

Invariants kept: an agreement something was billed under (an invoice of any of its
periods, issued or void) is never deleted and its prices never change (prices change at
a period boundary, through a new agreement); its end never moves before the end of a
period that was billed. Each check runs with the agreement's row and its periods' rows
locked, so a concurrent period_close (which locks its period row) is either seen or
waits. Every row written or deleted keeps its django-simple-history row naming who.
"""

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from billing.agreements import PriceTerms, audited_save, prices_save
from billing.models import BillingPeriod, Invoice, Price, PriceAgreement, PriceTier
from billing.periods import period_full_end, periods_create
from billing.selectors import agreements_overlapping
from customers.errors import ConflictError

KEEP = object()  # "not sent": the stored value stays


def agreement_locked(agreement_id: int) -> tuple[PriceAgreement, bool]:
    """The agreement with its periods' rows and its row locked, and whether it billed.

    Periods first, as a close locks them: locking the agreement first deadlocked with a
    close whose commit checks the agreement's rows (measured on PostgreSQL). FOR NO KEY
    UPDATE, in id order: a close's foreign-key checks on rows held here (its margins name
    the agreement, its marks and lines earlier periods) take key-share locks, which FOR
    UPDATE blocked: a close of March waited for a change holding February while the
    change waited for March (deadlock, found by tests/test_agreement_version_concurrency)."""
    periods = BillingPeriod.objects.select_for_update(no_key=True).filter(agreement_id=agreement_id)
    list(periods.order_by("pk").values("pk"))
    agreement = PriceAgreement.objects.select_for_update(no_key=True).get(pk=agreement_id)
    billed = Invoice.objects.filter(period__agreement=agreement).exists()
    return agreement, billed


def _delete_prices(agreement: PriceAgreement, changed_by: str) -> None:
    for tier in PriceTier.objects.filter(price__agreement=agreement):
        tier._change_reason = changed_by
        tier.delete()
    for price in Price.objects.filter(agreement=agreement):
        price._change_reason = changed_by
        price.delete()


def billed_until(agreement: PriceAgreement):
    """The end of the last period invoiced (issued or void), or None."""
    return BillingPeriod.objects.filter(agreement=agreement, invoices__isnull=False).aggregate(
        end=Max("ends_at")
    )["end"]


def cut_period_extension_refuse(agreement: PriceAgreement, until) -> None:
    """A billed period cut short by the old end would leave the days after it unbilled."""
    if until is None:
        return
    last = BillingPeriod.objects.filter(agreement=agreement, ends_at=until).first()
    stop = agreement.ends_on + timedelta(days=1) if agreement.ends_on else None
    if (stop is None or stop > until.date()) and period_full_end(last) != until:
        raise ConflictError(
            f"The period billed up to {until.date()} was cut short by the order's "
            "end: for the days after it, create a new order from then.",
            field="endDate",
        )


def agreement_delete(*, agreement_id: int, changed_by: str) -> None:
    """Delete an agreement with its prices, tiers and periods, only if nothing was billed
    under it (ConflictError otherwise: it is kept, and can be ended instead)."""
    with transaction.atomic():
        agreement, billed = agreement_locked(agreement_id)
        if billed:
            raise ConflictError(
                f"Agreement {agreement.pk} “{agreement.name}” has invoices, so it is kept: "
                "end it instead by setting its end date (PUT endDate)."
            )
        _delete_prices(agreement, changed_by)
        BillingPeriod.objects.filter(agreement=agreement).delete()
        agreement._change_reason = changed_by
        agreement.delete()


def agreement_update(
    *,
    agreement_id: int,
    changed_by: str,
    name: str | object = KEEP,
    ends_on: date | object | None = KEEP,
    payment_terms_days: int | object = KEEP,
    starts_on: date | object = KEEP,
    cadence: str | object = KEEP,
    platform_fee=KEEP,
    prices: Sequence[PriceTerms] | object = KEEP,
    now: datetime | None = None,
) -> PriceAgreement:
    """Change an agreement: its name, end and payment terms always; its start, cadence,
    fee and prices only while nothing was billed under it (ConflictError otherwise).
    Prices sent replace all of its prices. Periods not billed are rebuilt to the new
    dates."""
    with transaction.atomic():
        agreement, billed = agreement_locked(agreement_id)
        pricing = {"starts_on": starts_on, "cadence": cadence, "platform_fee": platform_fee}
        changes_pricing = prices is not KEEP or any(
            value is not KEEP and value != getattr(agreement, field)
            for field, value in pricing.items()
        )
        if billed and changes_pricing:
            raise ConflictError(
                f"Agreement {agreement.pk} has invoices: its prices, fee, start and cadence "
                "change only at a period boundary: as a new version of the agreement, in the "
                "admin (its page, or the pricing lab), or through a new order (end this one "
                "with endDate and create the next)."
            )
        values = {"name": name, "ends_on": ends_on, "payment_terms_days": payment_terms_days}
        for field, value in {**values, **pricing}.items():
            if value is not KEEP:
                setattr(agreement, field, value)
        until = billed_until(agreement)
        if (
            until
            and agreement.ends_on is not None
            and agreement.ends_on + timedelta(days=1) < until.date()
        ):
            raise ConflictError(
                f"A period up to {until.date()} was billed: the order can end "
                f"no earlier than then (endDate {until.date()} or later).",
                field="endDate",
            )
        cut_period_extension_refuse(agreement, until)
        outcome_ids = (
            [t.outcome_definition.pk for t in prices]
            if prices is not KEEP
            else list(agreement.prices.values_list("outcome_definition_id", flat=True))
        )
        taken = agreements_overlapping(
            customer=agreement.customer_id,
            outcome_definition_ids=outcome_ids,
            starts_on=agreement.starts_on,
            ends_on=agreement.ends_on,
            exclude_pk=agreement.pk,
        )
        if taken:
            others = ", ".join(sorted({f"{a.pk} “{a.name}”" for a in taken.values()}))
            raise ConflictError(
                f"Another agreement of this customer prices these outcomes on these dates "
                f"({others}): end it first, or keep this one's dates apart."
            )
        agreement.clean()
        try:
            with transaction.atomic():
                audited_save(agreement, changed_by)
                if prices is not KEEP:
                    _delete_prices(agreement, changed_by)
                    prices_save(agreement=agreement, prices=prices, changed_by=changed_by)
        except IntegrityError as exc:
            if "overlapping" not in str(exc):
                raise
            raise ConflictError(
                "This customer already has prices for these outcomes on these dates."
            ) from exc
        periods_rebuild(agreement, now=now or timezone.now(), until=until)
    return agreement


def periods_rebuild(agreement: PriceAgreement, *, now, until=KEEP) -> None:
    """Periods nothing was invoiced in, after the last invoiced one (`until`, default
    read), are made again from the agreement's dates and cadence. The caller holds the
    agreement's periods locked (agreement_locked)."""
    until = billed_until(agreement) if until is KEEP else until
    unbilled = BillingPeriod.objects.filter(agreement=agreement, invoices__isnull=True)
    if until:
        unbilled = unbilled.filter(starts_at__gte=until)
    BillingPeriod.objects.filter(pk__in=list(unbilled.values_list("pk", flat=True))).delete()
    periods_create(agreement=agreement, until=now)
