"""The live balance of a customer: its prepaid credits, what its open periods would draw
from them if they closed now, and whether its budget allows more. Computed here, stored
by beat (balance_refresh.py), served by the API (api/balances.py).

Figures, in the customer's currency (all at the currency's minor unit, as invoices are):
- `granted`: the amounts of its money grants in the balance: those live now (effective,
  not expired), and any an open period would draw (a grant that expired during the
  period, or starts later in it, is drawn at close as credits.py says);
- `used_closed`: what issued invoices drew from them, net of reversals (void, credit
  notes): amount - remaining, which is their ledger's drawdowns + reversals (expiry
  entries come only after a grant is out of the balance);
- `used_open`: what the open periods' invoices would draw from them now;
- `remaining` = granted - used_closed - used_open;
- `spend_open`: the open periods' charges (net before credits: DraftInvoice.charges);
- `overage_open`: the part of spend_open no credit (money or outcomes) covers;
- `spend_period`: the charges of the current period(s) alone, what a spend limit measures.

Open periods: per agreement, each calendar period started before now without a live
invoice: the current one, and earlier ones still waiting (grace, a void awaiting its
reissue), which close, and draw, first. Each is rated by services.invoice_preview (the
same rating, invoicing and drawing as a close, read-only), given copies of the grants
that earlier periods have drawn down: one set of credits across all of them, in the
order they will close (end, then start, then agreement), so that two periods or two
agreements never count one credit twice. Outcome grants are listed
in `grants`, in outcomes."""

import copy
import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import DecimalField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from billing.credits import draw_order
from billing.errors import ClosingError
from billing.models import BillingPeriod, Budget, CreditGrant, CreditLedgerEntry, CustomerBalance
from billing.money import MONEY, ZERO, format_quantity, json_number, round_line
from billing.periods import midnight, period_bounds, periods_unsettled_before
from billing.services import invoice_preview
from customers.models import Customer

logger = logging.getLogger(__name__)
Unit = CreditGrant.Unit


def periods_open(*, customer: Customer, now: datetime) -> tuple[list[BillingPeriod], list]:
    """Every calendar period of the customer's agreements started before `now` without a
    live invoice (unsaved instances for periods not created yet), in closing order; and
    the calendar's boundaries at which that changes: when the agreements not started yet
    start, when the current periods end (closed early or not)."""
    periods, boundaries = [], []
    for agreement in customer.agreements.all():
        boundaries.append(midnight(agreement.starts_on))
        if agreement.starts_on > now.date():
            continue
        agreement.customer = customer
        periods += periods_unsettled_before(BillingPeriod(agreement=agreement, starts_at=now))
        boundaries += [end for _, end, _ in period_bounds(agreement, now) if end >= now]
    return sorted(periods, key=lambda p: (p.ends_at, p.starts_at, p.agreement_id)), boundaries


def _valid_until(*, now: datetime, boundaries, grants) -> datetime | None:
    """The first instant from `now` on at which time alone changes the balance: a period
    boundary (periods_open), a grant taking effect or expiring. None: no such instant.
    `now` itself counts: a balance computed on a boundary is recomputed."""
    events = list(boundaries)
    for grant in grants:
        events += [grant.effective_at] + ([grant.expires_at] if grant.expires_at else [])
    return min((at for at in events if at >= now), default=None)


def _live_for(grant: CreditGrant, period: BillingPeriod) -> bool:
    """credits.grants_live's rule (CreditGrant.objects.live_for), on grants in memory."""
    return (
        grant.remaining > 0
        and grant.effective_at < period.ends_at
        and (grant.expires_at is None or grant.expires_at > period.starts_at)
    )


def _live_now(grant: CreditGrant, now: datetime) -> bool:
    return grant.effective_at <= now and (grant.expires_at is None or grant.expires_at > now)


class _Use:
    """What the open periods draw from one grant: units in its unit, value in money."""

    def __init__(self):
        self.units = ZERO
        self.value = ZERO


_CANCELLED = Coalesce(
    Subquery(
        CreditLedgerEntry.objects.filter(
            grant=OuterRef("pk"), kind=CreditLedgerEntry.Kind.CANCELLATION
        )
        .order_by()
        .values("grant")
        .annotate(total=Sum("amount"))
        .values("total")
    ),
    Value(ZERO),
    output_field=DecimalField(**MONEY),
)


def balance_compute(customer: Customer, *, now: datetime) -> CustomerBalance:
    """The customer's balance at `now`, unsaved. Writes nothing: each period is rated by
    invoice_preview, whose transaction the database keeps read-only and rolls back."""
    currency = customer.currency
    periods, boundaries = periods_open(customer=customer, now=now)
    since = min((p.starts_at for p in periods), default=now)
    grants = list(
        CreditGrant.objects.filter(customer=customer, currency=currency)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=since))
        .select_related("outcome_definition")
        .annotate(cancelled=_CANCELLED)
    )
    # Copies whose `remaining` goes down as the periods draw, in closing order.
    planned = {g.pk: copy.copy(g) for g in grants}
    use: dict[int, _Use] = {}
    spend_open = credits_open = spend_period = ZERO
    for period in periods:
        live = sorted((g for g in planned.values() if _live_for(g, period)), key=draw_order)
        try:
            draft = invoice_preview(period=period, grants=live, margins=False)
        except ClosingError as error:  # e.g. an agreement in another currency
            logger.warning("balance of %s leaves out %s: %s", customer.external_id, period, error)
            continue
        for draw in draft.draws:  # draws of the copies: what later periods find is less
            draw.grant.remaining -= draw.units
            entry = use.setdefault(draw.grant.pk, _Use())
            entry.units += draw.units
            entry.value += draw.value
            credits_open += draw.value
        spend_open += draft.charges
        if period.ends_at > now:
            spend_period += draft.charges
    # What each grant granted in effect: its amount less what was cancelled (a top-up's
    # purchase credited, or its invoice voided), neither granted nor used.
    sold = {g.pk: g.amount + g.cancelled for g in grants}
    in_balance = sorted(
        (g for g in grants if (_live_now(g, now) and sold[g.pk] > 0) or g.pk in use),
        key=draw_order,
    )
    money = [g for g in in_balance if g.unit == Unit.MONEY]
    granted = sum((sold[g.pk] for g in money), ZERO)
    used_closed = sum((sold[g.pk] - g.remaining for g in money), ZERO)
    used_open = sum((use[g.pk].value for g in money if g.pk in use), ZERO)
    current = [p for p in periods if p.ends_at > now]
    return CustomerBalance(
        customer=customer,
        currency=currency,
        granted=granted,
        used_closed=used_closed,
        used_open=used_open,
        remaining=granted - used_closed - used_open,
        spend_open=spend_open,
        overage_open=max(spend_open - credits_open, ZERO),
        spend_period=spend_period,
        period_starts_at=min((p.starts_at for p in current), default=None),
        period_ends_at=max((p.ends_at for p in current), default=None),
        grants=[_grant_row(g, sold[g.pk], use.get(g.pk) or _Use(), currency) for g in in_balance],
        valid_until=_valid_until(now=now, boundaries=boundaries, grants=grants),
        computed_at=now,
        checked_at=now,
    )


def _grant_row(grant: CreditGrant, amount: Decimal, use: _Use, currency: str) -> dict:
    """One grant as the API shows it: money at the minor unit, outcomes as a quantity;
    `amount` what it granted in effect (its amount less cancellations)."""
    if grant.unit == Unit.MONEY:

        def show(value):
            return str(round_line(value, currency) + 0)
    else:
        show = format_quantity
    used_closed = amount - grant.remaining
    definition = grant.outcome_definition
    return {
        "id": grant.pk,
        "name": grant.name,
        "kind": grant.kind,
        "unit": grant.unit,
        "outcome_definition_id": definition.pk if definition else None,
        "outcome": definition.name if definition else None,
        "amount": show(amount),
        "used_closed": show(used_closed),
        "used_open": show(use.units),
        "available": show(grant.remaining - use.units),
        "value_open": str(round_line(use.value, currency) + 0),
        "effective_at": grant.effective_at.isoformat(),
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
        "applies_to_fees": grant.applies_to_fees,
    }


# --- Reading ---------------------------------------------------------------------------
def lag_bound() -> int:
    return settings.BALANCE_LAG_SECONDS


def age_seconds(balance: CustomerBalance, now: datetime) -> Decimal:
    """How old the balance is at `now` (since it was last known exact, `checked_at`), in
    seconds to the millisecond (0 if later), as the endpoints write it
    (billing.money.json_number)."""
    milliseconds = max(now - balance.checked_at, timedelta(0)) // timedelta(milliseconds=1)
    return json_number(Decimal(milliseconds).scaleb(-3))


def balance_current(
    customer: Customer, *, stored: CustomerBalance | None, now: datetime
) -> CustomerBalance:
    """The stored balance while it was known exact (`checked_at`) less than
    BALANCE_LAG_SECONDS ago, else one computed at once and not stored (a read never
    writes). `customer` needs only its id and currency (selectors.balance_lookup's)."""
    if (
        stored is not None
        and stored.currency == customer.currency
        and (now - stored.checked_at).total_seconds() < lag_bound()
    ):
        return stored
    return balance_compute(Customer.objects.get(pk=customer.pk), now=now)


def budget_of(customer: Customer) -> Budget | None:
    try:
        return customer.budget
    except Budget.DoesNotExist:
        return None


def credits_left(balance: CustomerBalance) -> bool:
    """Money left, or outcomes left on an outcome grant."""
    return balance.remaining > 0 or any(
        row["unit"] == Unit.OUTCOMES and Decimal(row["available"]) > 0 for row in balance.grants
    )


def balance_allowed(balance: CustomerBalance, budget: Budget | None) -> bool:
    """allowed = not (hard and (period spend >= limit, or credits only and no credit
    left)); no budget allows everything. Signals are accepted either way."""
    if budget is None:
        return True
    return budget.allows(spend_period=balance.spend_period, credits_left=credits_left(balance))
