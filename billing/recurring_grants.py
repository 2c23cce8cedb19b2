"""Recurring allowances: the grants a RecurringGrant owes up to now (one per month,
quarter or year from its start, until its end), created by beat, each once."""

import calendar
import logging
from datetime import UTC, date, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.credit_grants import grant_problems
from billing.credits import grant_create
from billing.models import CreditGrant, RecurringGrant

logger = logging.getLogger(__name__)

MONTHS = {
    RecurringGrant.Every.MONTH: 1,
    RecurringGrant.Every.QUARTER: 3,
    RecurringGrant.Every.YEAR: 12,
}
NAME_MAX = CreditGrant._meta.get_field("name").max_length


def months_after(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day
    (from 31 January: 28 or 29 February, 31 March)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def recurring_dates(recurring: RecurringGrant, *, until: date) -> list[date]:
    """The dates a grant is owed on, up to `until` and the recurring grant's end. Each is
    counted from the start (not from the previous date), so a short month does not
    shift the dates after it."""
    step = MONTHS[recurring.every]
    last = min(until, recurring.ends_on) if recurring.ends_on else until
    dates = []
    on = recurring.starts_on
    while on <= last:
        dates.append(on)
        on = months_after(recurring.starts_on, step * len(dates))
    return dates


def _values(recurring: RecurringGrant, on: date) -> dict:
    effective_at = datetime.combine(on, time.min, tzinfo=UTC)
    suffix = f" {on:%Y-%m-%d}"
    return {
        "name": recurring.name[: NAME_MAX - len(suffix)] + suffix,
        "kind": recurring.kind,
        "unit": recurring.unit,
        "currency": recurring.currency,
        "outcome_definition": recurring.outcome_definition,
        "amount": recurring.amount,
        "effective_at": effective_at,
        "expires_at": (
            effective_at + timedelta(days=recurring.valid_days) if recurring.valid_days else None
        ),
        "priority": recurring.priority,
        "applies_to_fees": recurring.applies_to_fees,
        "source": CreditGrant.Source.RECURRING,
        "recurring": recurring,
        "recurring_on": on,
    }


def recurring_grants_create(*, now: datetime | None = None) -> int:
    """Create every active recurring grant's grants due by `now` (a date's grant is due
    at its UTC midnight), missed ones included, each once: the unique key (recurring,
    recurring_on) makes a second run, or two at once, create nothing more. A recurring
    grant that can no longer be granted as it stands (its customer changed currency) is
    skipped with a warning naming what to fix. Returns the number created."""
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    created = 0
    recurring_grants = RecurringGrant.objects.filter(
        active=True, starts_on__lte=today
    ).select_related("customer", "outcome_definition")
    for recurring in recurring_grants:
        made = set(recurring.grants.values_list("recurring_on", flat=True))
        for on in recurring_dates(recurring, until=today):
            if on in made:
                continue
            values = _values(recurring, on)
            problems = grant_problems(customer=recurring.customer, values=values)
            if problems:
                logger.warning(
                    "recurring grant %s (%s) of customer %s skipped: %s",
                    recurring.pk,
                    recurring.name,
                    recurring.customer.external_id,
                    "; ".join(f"{field}: {text}" for field, text in problems.items()),
                )
                break  # its later dates have the same problem
            try:
                with transaction.atomic():
                    grant_create(customer=recurring.customer, at=now, **values)
            except IntegrityError:
                # Another run created it first; anything else is a real error.
                if not CreditGrant.objects.filter(recurring=recurring, recurring_on=on).exists():
                    raise
                continue
            created += 1
    return created
