"""The billing calendar: an agreement's periods by cadence, which exist, which are due.

Creating periods is a write with its own name (`periods_create`, `periods_create_due`);
finding them (`periods_due`, `period_current`, `periods_unsettled_before`) only reads.
"""

import calendar
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Exists, Max, OuterRef

from billing.models import BillingPeriod, PriceAgreement

CADENCE_MONTHS = {
    PriceAgreement.Cadence.MONTHLY: 1,
    PriceAgreement.Cadence.QUARTERLY: 3,
    PriceAgreement.Cadence.ANNUAL: 12,
}


def _add_months(day: date, months: int, anchor_day: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _agreement_stop(agreement: PriceAgreement) -> datetime | None:
    return midnight(agreement.ends_on + timedelta(days=1)) if agreement.ends_on else None


def period_bounds(agreement: PriceAgreement, until: datetime):
    """(start, end, full_end) of the agreement's periods that start before `until`:
    by cadence from the agreement's start day; the last one cut at the agreement's end."""
    months = CADENCE_MONTHS[agreement.cadence]
    stop = agreement.ends_on + timedelta(days=1) if agreement.ends_on else None
    start, i = agreement.starts_on, 0
    while midnight(start) < until and (stop is None or start < stop):
        i += 1
        full_end = _add_months(agreement.starts_on, months * i, agreement.starts_on.day)
        end = min(full_end, stop) if stop else full_end
        yield midnight(start), midnight(end), midnight(full_end)
        start = end


def period_full_end(period: BillingPeriod) -> datetime:
    """Where the period would end by cadence alone: a period cut short by the agreement's
    end is prorated against it."""
    for start, _, full_end in period_bounds(period.agreement, period.ends_at):
        if start == period.starts_at:
            return full_end
    return period.ends_at


def periods_create(*, agreement: PriceAgreement, until: datetime) -> int:
    """Create the agreement's missing periods up to `until`. Safe to run twice."""
    periods = [
        BillingPeriod(agreement=agreement, starts_at=start, ends_at=end)
        for start, end, _ in period_bounds(agreement, until)
    ]
    return len(BillingPeriod.objects.bulk_create(periods, ignore_conflicts=True))


def periods_create_due(*, now: datetime) -> int:
    """Create missing periods up to `now`, only for the agreements whose periods stop
    short of now (one query finds them; beat runs this every few minutes)."""
    created = 0
    for agreement in PriceAgreement.objects.annotate(last_end=Max("periods__ends_at")):
        stop = _agreement_stop(agreement)
        if agreement.last_end is None or (
            agreement.last_end < now and (stop is None or agreement.last_end < stop)
        ):
            created += periods_create(agreement=agreement, until=now)
    return created


def periods_due(*, now: datetime) -> list[BillingPeriod]:
    """Open periods whose end plus the agreement's grace period has passed, earliest first,
    at most one per agreement (a period closes only after the ones before it). Reads only."""
    earlier_unsettled = BillingPeriod.objects.unsettled().filter(
        agreement=OuterRef("agreement"), starts_at__lt=OuterRef("starts_at")
    )
    candidates = (
        BillingPeriod.objects.open()
        .filter(ends_at__lte=now)
        .exclude(Exists(earlier_unsettled))
        .select_related("agreement")
    )
    return [p for p in candidates if p.ends_at + p.agreement.grace_period <= now]


def period_current(*, agreement: PriceAgreement, now: datetime) -> BillingPeriod | None:
    """The period `now` falls in: its row if it exists, else an unsaved one with the
    calendar's bounds (nothing is created). None outside the agreement's dates."""
    current = None
    for start, end, _ in period_bounds(agreement, now):
        if start <= now < end:
            current = (start, end)
    if current is None:
        return None
    existing = agreement.periods.filter(starts_at=current[0]).first()
    return existing or BillingPeriod(agreement=agreement, starts_at=current[0], ends_at=current[1])


def periods_unsettled_before(period: BillingPeriod) -> list[BillingPeriod]:
    """The calendar's periods before this one that have no live invoice yet (open, voided,
    or not even created), earliest first: their signals are theirs, not late signals of
    this period. Unsaved instances stand for periods not created yet."""
    agreement = period.agreement
    rows = {p.starts_at: p for p in agreement.periods.filter(starts_at__lt=period.starts_at)}
    unsettled = []
    for start, end, _ in period_bounds(agreement, period.starts_at):
        row = rows.get(start) or BillingPeriod(agreement=agreement, starts_at=start, ends_at=end)
        if row.state != BillingPeriod.State.CLOSED:
            unsettled.append(row)
    return unsettled
