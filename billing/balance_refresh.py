"""Keeping the stored balances fresh (beat, every BALANCE_REFRESH_SECONDS) and raising
budget alerts from them.

A customer's balance is due when it has none yet, when a signal or cost of the customer
has an id above the watermark it was computed with (one index probe each:
signal_customer_id_idx, cost_customer_id_idx), when time alone changed it (`valid_until`)
or when it might pass BALANCE_LAG_SECONDS before the next run reaches it. A due balance
whose inputs did not change (balance_inputs.py: what the watermark cannot see, a signal
whose transaction committed after a higher id's, one attached later, a grant, a close,
an agreement change) is confirmed; any other is recomputed. The API never serves a
balance older than BALANCE_LAG_SECONDS, whatever beat does."""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import Cost, Signal
from billing.alerts import budget_alert_email, budget_alert_raised
from billing.balance_inputs import inputs_digests, signal_counts
from billing.balances import balance_compute, budget_of
from billing.models import Budget, BudgetAlert, CreditGrant, CustomerBalance, PriceAgreement
from billing.services import ANALYSED_MODELS
from config.db import statistics_ensure
from customers.models import Customer

logger = logging.getLogger(__name__)

STORED_FIELDS = [
    f.name for f in CustomerBalance._meta.concrete_fields if f.name not in ("id", "customer")
]


def _last_id(model, outer: str = "pk"):
    last = model.objects.filter(customer_id=OuterRef(outer)).order_by("-id").values("id")[:1]
    return Coalesce(Subquery(last), Value(0))


@dataclass
class Due:
    """A customer whose balance the run brings up to date: recomputed, or `checkable`
    (stored, its signals and costs not moved, still valid at `now`, with a digest) and
    then confirmed if its inputs are found unchanged."""

    customer_id: int
    last_signal: int
    last_cost: int
    checkable: bool
    signals_count: int | None
    inputs_digest: str | None


def balances_due(*, now: datetime) -> list[Due]:
    """Each customer with credits, an agreement or a budget whose balance is missing,
    behind its signals or costs, no longer valid (valid_until), or that might not be
    known exact within BALANCE_LAG_SECONDS by the time the next run reaches it; the least
    recently checked first. Reads only."""
    every = settings.BALANCE_REFRESH_SECONDS
    # The next run starts up to `every` later and may work `every` before it reaches a
    # balance: one older than LAG - 2 x every now could pass the bound before then.
    stale = now - timedelta(seconds=max(settings.BALANCE_LAG_SECONDS - 2 * every, 0))
    billable = (
        Q(Exists(PriceAgreement.objects.filter(customer=OuterRef("pk"))))
        | Q(Exists(CreditGrant.objects.filter(customer=OuterRef("pk"))))
        | Q(Exists(Budget.objects.filter(customer=OuterRef("pk"))))
    )
    moved = Q(last_signal__gt=F("balance__signals_seen")) | Q(
        last_cost__gt=F("balance__costs_seen")
    )
    rows = (
        Customer.objects.filter(billable)
        .annotate(last_signal=_last_id(Signal), last_cost=_last_id(Cost))
        .filter(
            Q(balance__isnull=True)
            | Q(balance__checked_at__lte=stale)
            | Q(balance__valid_until__lte=now)
            | moved
        )
        .annotate(
            checkable=ExpressionWrapper(
                Q(balance__isnull=False)
                & ~moved
                & ~Q(balance__inputs_digest="")
                & (Q(balance__valid_until__isnull=True) | Q(balance__valid_until__gt=now)),
                output_field=BooleanField(),
            )
        )
        .order_by(F("balance__checked_at").asc(nulls_first=True), "pk")
    )
    fields = ("pk", "last_signal", "last_cost", "checkable")
    return [
        Due(*row)
        for row in rows.values_list(*fields, "balance__signals_count", "balance__inputs_digest")
    ]


def balances_confirm(due: list[Due], *, now: datetime) -> set[int]:
    """Of the checkable balances, those whose inputs are unchanged (balance_inputs.py)
    are exact at `now`: their `checked_at` moves to `now` (one UPDATE; not one a
    concurrent run checked or computed later). Returns their customer ids."""
    checkable = [d for d in due if d.checkable]
    if not checkable:
        return set()
    ids = [d.customer_id for d in checkable]
    counts, digests = signal_counts(ids), inputs_digests(ids)
    same = {
        d.customer_id
        for d in checkable
        if counts.get(d.customer_id, 0) == d.signals_count
        and digests[d.customer_id] == d.inputs_digest
    }
    # Only rows still as found (a concurrent run may have stored another since) and
    # still valid at `now`.
    CustomerBalance.objects.filter(
        Q(valid_until__isnull=True) | Q(valid_until__gt=now),
        customer_id__in=same,
        inputs_digest__in={digests[pk] for pk in same},
        checked_at__lt=now,
    ).update(checked_at=now)
    return same


def balance_store(balance: CustomerBalance) -> None:
    """Insert or replace the customer's stored balance, in one statement (two refreshes
    at once never collide on the customer's row)."""
    CustomerBalance.objects.bulk_create(
        [balance],
        update_conflicts=True,
        unique_fields=["customer"],
        update_fields=STORED_FIELDS,
    )


def budget_alerts_raise(*, budget: Budget, balance: CustomerBalance) -> list[BudgetAlert]:
    """An alert for each threshold (50, 80, 100%) the balance has reached that was not
    raised yet in its period: at most once per threshold per period (a unique key, so a
    second refresh, or two at once, raise nothing more). Returns the new ones."""
    measured = budget.measure(
        spend_period=balance.spend_period, granted=balance.granted, remaining=balance.remaining
    )
    if measured is None or balance.period_starts_at is None:
        return []  # nothing to measure, or no period to count it in
    used, limit = measured
    reached = [t for t in Budget.THRESHOLDS if used * 100 >= limit * t]
    raised = set(
        BudgetAlert.objects.filter(
            budget=budget, period_starts_at=balance.period_starts_at, threshold__in=reached
        ).values_list("threshold", flat=True)
    )
    alerts = []
    for threshold in reached:
        if threshold in raised:
            continue
        try:
            with transaction.atomic():
                alerts.append(
                    BudgetAlert.objects.create(
                        budget=budget,
                        period_starts_at=balance.period_starts_at,
                        threshold=threshold,
                        used=used,
                        limit=limit,
                        raised_at=balance.computed_at,
                    )
                )
        except IntegrityError:  # raised by a concurrent refresh meanwhile
            continue
    return alerts


def budget_alert_notify(alert_id: int) -> None:
    """Send budget_alert_raised (the webhook event; the webhooks app retries its
    deliveries) and e-mail Finance. After commit; a failure never stops the refresh of
    other customers."""
    budget_alert_raised.send(sender=BudgetAlert, alert_id=alert_id)
    budget_alert_email_send(alert_id)


# An e-mail that failed is tried again by the next refreshes, the n-th retry no sooner
# than 2^n - 1 minutes after the alert was raised (1, 3, 7, ... 127 minutes), then given
# up (logged each time; the alert stays in the admin and its webhook event was sent).
EMAIL_ATTEMPTS = 8


def budget_alert_email_send(alert_id: int) -> bool:
    """E-mail Finance about one alert unless it has been: the row is locked while
    sending (a concurrent run skips it) and `emailed_at` set once it worked; a failure
    counts an attempt. True when this call sent it."""
    with transaction.atomic():
        alert = (
            BudgetAlert.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("budget__customer")
            .filter(pk=alert_id, emailed_at__isnull=True)
            .first()
        )
        if alert is None:
            return False
        try:
            sent = budget_alert_email(alert=alert)
        except Exception:
            logger.exception("could not e-mail budget alert %s", alert_id)
            sent = False
        if sent:
            alert.emailed_at = timezone.now()
        alert.email_attempts += 1
        alert.save(update_fields=["emailed_at", "email_attempts"])
    return sent


def budget_alert_emails_retry(*, now: datetime | None = None) -> int:
    """Beat, before each refresh: send the alert e-mails that failed and are due for
    another try (EMAIL_ATTEMPTS), and any whose first try never ran (a process stopped
    between the commit and the e-mail). Returns the number sent."""
    now = now or timezone.now()
    waiting = BudgetAlert.objects.filter(
        emailed_at__isnull=True,
        email_attempts__lt=EMAIL_ATTEMPTS,
        raised_at__gte=now - timedelta(minutes=2**EMAIL_ATTEMPTS),
    ).values_list("pk", "raised_at", "email_attempts")
    due = [
        pk
        for pk, raised_at, attempts in waiting
        if now >= raised_at + timedelta(minutes=2**attempts - 1)
    ]
    return sum(budget_alert_email_send(pk) for pk in due)


# Balances to recompute are read in batches: their inputs first (balance_inputs.py), then
# each is computed. A change made in between is computed but not in the digest, so the
# next run recomputes it again: never the other way round.
BATCH = 50


def balance_refresh(*, now: datetime | None = None) -> int:
    """Bring the balances due (balances_due) up to date: confirm those whose inputs did
    not change (cheap: a few queries for all of them), recompute and store the others,
    raising budget alerts. Safe to run twice or concurrently: the store is an upsert,
    alerts are unique. With `now` (tests) every balance is computed at that instant;
    otherwise each at the time its computation starts. A run stops once it has worked
    BALANCE_REFRESH_SECONDS, so runs do not pile up: the next one goes on with the
    oldest balances. Returns the number of balances confirmed or stored."""
    started = time.monotonic()
    # The previews rate as a close does: on a fresh database, with tables nobody has
    # analysed yet, the planner must not guess (services.ANALYSED_MODELS, as a close).
    statistics_ensure(ANALYSED_MODELS)
    checked = now or timezone.now()
    due = balances_due(now=checked)
    confirmed = balances_confirm(due, now=checked)
    todo = [d for d in due if d.customer_id not in confirmed]
    stored, counts, digests = 0, {}, {}
    for i, d in enumerate(todo):
        if i % BATCH == 0:
            ids = [x.customer_id for x in todo[i : i + BATCH]]
            counts, digests = signal_counts(ids), inputs_digests(ids)
        try:
            _refresh_one(
                d,
                signals_count=counts.get(d.customer_id, 0),
                inputs_digest=digests[d.customer_id],
                now=now or timezone.now(),
            )
            stored += 1
        except Exception:  # one customer's problem never holds up the others' balances
            logger.exception("could not refresh the balance of customer %s", d.customer_id)
        if time.monotonic() - started > settings.BALANCE_REFRESH_SECONDS:
            break
    logger.info(
        "confirmed %s and recomputed %s of %s balances due in %.3f s",
        len(confirmed),
        stored,
        len(due),
        time.monotonic() - started,
    )
    return len(confirmed) + stored


def _refresh_one(due: Due, *, signals_count: int, inputs_digest: str, now: datetime) -> None:
    customer = Customer.objects.select_related("budget").get(pk=due.customer_id)
    balance = balance_compute(customer, now=now)
    balance.signals_seen, balance.costs_seen = due.last_signal, due.last_cost
    balance.signals_count, balance.inputs_digest = signals_count, inputs_digest
    with transaction.atomic():
        balance_store(balance)
        budget = budget_of(customer)
        alerts = budget_alerts_raise(budget=budget, balance=balance) if budget else []
        for alert in alerts:
            transaction.on_commit(lambda pk=alert.pk: budget_alert_notify(pk))
