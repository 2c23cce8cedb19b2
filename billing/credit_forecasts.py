"""Prepaid credits read for the admin: when a customer's money credits run out at the rate
they are drawn, and each grant's burn-down (credits left against days left). Reads only:
no row is written or locked.

The rate (docs/credits-admin.md): what the customer's money grants were drawn, net of
reversals (voids, credit notes), by ledger entries dated in the last RATE_DAYS days,
divided by RATE_DAYS. Expiry write-offs are not use and do not count. Drawdowns are
written when a period closes, so the rate follows closed periods only; the open period's
use is not in it (the admin reads no live balance yet).

The forecast draws that rate every day from the grants as a close would, soonest expiry
first: a grant is used up, or its remainder lapses at its expiry, and the credits run
out on the first day no live money grant has anything left."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from billing.credits import draw_order
from billing.models import CreditGrant, CreditLedgerEntry
from billing.money import ZERO, format_quantity, round_line
from customers.currencies import minor_unit

RATE_DAYS = 30
RUNNING_OUT_DAYS = 14
# A forecast further out than this says "not within ten years".
HORIZON = timedelta(days=3650)
DAY = Decimal(86400)  # seconds
MICRO = Decimal(1_000_000)


@dataclass
class Forecast:
    """A customer's money credits at `now`: what is left in live grants, the daily rate,
    and when they run out at it (None: nothing drawn lately, or not within ten years).
    `ends[grant id]` is (when, left then) for each grant used up (0 left) or lapsing
    with something left (those are in `lapses`) within the horizon; `starts[grant id]`
    when the forecast starts drawing it."""

    currency: str
    now: datetime
    remaining: Decimal = ZERO
    drawn: Decimal = ZERO
    rate: Decimal = ZERO
    runs_out_at: datetime | None = None
    ends: dict[int, tuple[datetime, Decimal]] = field(default_factory=dict)
    starts: dict[int, datetime] = field(default_factory=dict)
    lapses: set[int] = field(default_factory=set)
    grants: list[CreditGrant] = field(default_factory=list)

    @property
    def days_left(self) -> int | None:
        if self.runs_out_at is None:
            return None
        return (self.runs_out_at - self.now).days

    @property
    def starts_later(self) -> datetime | None:
        """When credits take effect, for a customer with none in effect today."""
        if self.remaining > 0 or not self.grants:
            return None
        return min(g.effective_at for g in self.grants)

    @property
    def runs_out_by_expiry(self) -> bool:
        """The credits end because the last grant lapses, not because it is drawn."""
        if self.runs_out_at is None:
            return False
        return any(self.ends[pk][0] == self.runs_out_at for pk in self.lapses if pk in self.ends)


def money_grants_left(*, now: datetime, customer_ids=None):
    """Money grants with something left that have not expired at `now` (including ones
    that take effect later), in drawing order per customer."""
    grants = CreditGrant.objects.filter(unit=CreditGrant.Unit.MONEY, remaining__gt=0).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    if customer_ids is not None:
        grants = grants.filter(customer_id__in=customer_ids)
    return sorted(grants.select_related("customer"), key=draw_order)


def money_drawn(*, now: datetime, customer_ids) -> dict[int, Decimal]:
    """{customer id: money drawn in the rate window, net of reversals}."""
    rows = (
        CreditLedgerEntry.objects.filter(
            grant__unit=CreditGrant.Unit.MONEY,
            grant__customer_id__in=customer_ids,
            kind__in=[CreditLedgerEntry.Kind.DRAWDOWN, CreditLedgerEntry.Kind.REVERSAL],
            at__gt=now - timedelta(days=RATE_DAYS),
            at__lte=now,
        )
        .values("grant__customer_id")
        .annotate(total=Sum("amount"))
    )
    return {row["grant__customer_id"]: max(-row["total"], ZERO) for row in rows}


def _run_out(forecast: Forecast) -> None:
    """Draw `rate` a day from the grants in drawing order until none is left (see the
    module docstring). Each step ends at the next event: the grant drawn is used up, a
    live grant lapses, or a later grant takes effect."""
    rate, now = forecast.rate, forecast.now
    left = {g.pk: g.remaining for g in forecast.grants}
    if forecast.remaining <= 0:
        return  # none in effect today: out already, not running out
    if rate <= 0:  # nothing is drawn: each grant lapses whole at its expiry
        for grant in forecast.grants:
            if grant.expires_at is not None:
                forecast.ends[grant.pk] = (grant.expires_at, grant.remaining)
                forecast.lapses.add(grant.pk)
        return
    t = now
    while t < now + HORIZON:
        live = [
            g
            for g in forecast.grants
            if left[g.pk] > 0 and g.effective_at <= t and (g.expires_at is None or g.expires_at > t)
        ]
        if not live:
            forecast.runs_out_at = t
            break
        drawn = live[0]  # forecast.grants is in drawing order
        forecast.starts.setdefault(drawn.pk, t)
        used_up = t + timedelta(microseconds=int(left[drawn.pk] / rate * DAY * MICRO))
        later = [g.effective_at for g in forecast.grants if left[g.pk] > 0 and g.effective_at > t]
        lapsing = [g.expires_at for g in live if g.expires_at is not None]
        step_to = min([used_up, *later, *lapsing])
        if step_to == used_up:
            left[drawn.pk] = ZERO
            forecast.ends[drawn.pk] = (used_up, ZERO)
        else:
            left[drawn.pk] -= rate * _days(step_to, t, places=None)
        for grant in live:
            if grant.expires_at is not None and grant.expires_at <= step_to and left[grant.pk] > 0:
                forecast.ends[grant.pk] = (grant.expires_at, left[grant.pk])
                forecast.lapses.add(grant.pk)
                left[grant.pk] = ZERO
        t = step_to


def credit_forecasts(*, now: datetime, customer_ids=None) -> dict[int, Forecast]:
    """{customer id: Forecast} for customers with money credits left (all of them, or
    those of `customer_ids`). Three queries whatever the number of customers."""
    by_customer: dict[int, list[CreditGrant]] = defaultdict(list)
    for grant in money_grants_left(now=now, customer_ids=customer_ids):
        by_customer[grant.customer_id].append(grant)
    drawn = money_drawn(now=now, customer_ids=list(by_customer))
    forecasts = {}
    for customer_id, grants in by_customer.items():
        currency = grants[0].customer.currency
        forecast = Forecast(
            currency=currency,
            now=now,
            grants=grants,
            remaining=sum((g.remaining for g in grants if g.effective_at <= now), ZERO),
            drawn=drawn.get(customer_id, ZERO),
        )
        forecast.rate = forecast.drawn / RATE_DAYS
        _run_out(forecast)
        forecasts[customer_id] = forecast
    return forecasts


def credit_forecast(*, customer, now: datetime) -> Forecast:
    """The forecast of one customer (empty when no money credits are left)."""
    forecast = credit_forecasts(now=now, customer_ids=[customer.pk]).get(customer.pk)
    if forecast is None:
        forecast = Forecast(currency=customer.currency, now=now)
        forecast.drawn = money_drawn(now=now, customer_ids=[customer.pk]).get(customer.pk, ZERO)
        forecast.rate = forecast.drawn / RATE_DAYS
    return forecast


def customers_running_out(*, now: datetime, within_days: int = RUNNING_OUT_DAYS) -> list:
    """(customer, forecast) of the customers whose money credits run out within
    `within_days` at their rate, soonest first."""
    until = now + timedelta(days=within_days)
    rows = [
        (forecast.grants[0].customer, forecast)
        for forecast in credit_forecasts(now=now).values()
        if forecast.runs_out_at is not None and forecast.runs_out_at <= until
    ]
    return sorted(rows, key=lambda row: (row[1].runs_out_at, row[0].name, row[0].pk))


def _days(later: datetime, earlier: datetime, places: int | None = 2) -> Decimal:
    """Days between two times, exact (to the microsecond), rounded to `places`."""
    days = Decimal((later - earlier) // timedelta(microseconds=1)) / MICRO / DAY
    return days if places is None else round(days, places)


def burndown(grant: CreditGrant, *, now: datetime, forecast: Forecast | None = None) -> dict:
    """A grant's chart: its balance after each ledger entry over time, from its amount
    on the effective date to today, against days left to its expiry (or days since it
    took effect, for a grant that never expires); the straight line from the amount to
    zero at expiry; and, when the customer's forecast gives the grant an end, the line
    from today's balance (flat until the forecast starts drawing it) to what is left
    then. Amounts stay Decimals (JSON strings)."""
    expires = grant.expires_at

    def x(at: datetime) -> Decimal:
        return _days(expires, at) if expires else _days(at, grant.effective_at)

    def y(amount: Decimal) -> Decimal:
        if grant.unit == CreditGrant.Unit.MONEY:
            return round_line(amount, grant.currency)
        return Decimal(format_quantity(amount))  # 500, not 5E+2

    entries = list(grant.entries.order_by("at", "pk").values_list("kind", "at", "balance_after"))
    points = [{"x": x(grant.effective_at), "y": y(grant.amount), "at": grant.effective_at}]
    for kind, at, balance in entries:
        if kind == CreditLedgerEntry.Kind.GRANT:
            continue
        points.append({"x": x(max(at, grant.effective_at)), "y": y(balance), "at": at})
    today = min(now, expires) if expires else now
    if today > points[-1]["at"]:
        points.append({"x": x(today), "y": y(grant.remaining), "at": today})
    for point in points:
        point["at"] = f"{point['at']:%Y-%m-%d}"
    chart = {
        "id": grant.pk,
        "name": grant.name,
        "unit": grant.unit,
        "currency": grant.currency,
        "places": minor_unit(grant.currency) if grant.unit == CreditGrant.Unit.MONEY else None,
        "expires": bool(expires),
        "balance": points,
        "plan": [],
        "forecast": [],
    }
    if expires:
        chart["plan"] = [
            {"x": x(grant.effective_at), "y": y(grant.amount)},
            {"x": Decimal(0), "y": Decimal(0)},
        ]
    end = forecast.ends.get(grant.pk) if forecast else None
    if end is not None and grant.remaining > 0 and end[0] > now >= grant.effective_at:
        start = min(forecast.starts.get(grant.pk, end[0]), end[0])
        chart["forecast"] = [{"x": x(now), "y": y(grant.remaining)}]
        if start > now:
            chart["forecast"].append({"x": x(start), "y": y(grant.remaining)})
        chart["forecast"].append({"x": x(end[0]), "y": y(end[1])})
    return chart
