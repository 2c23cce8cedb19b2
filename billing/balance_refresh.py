"""Keeping the stored balances fresh (beat, every BALANCE_REFRESH_SECONDS) and raising
budget alerts from them.

A customer's balance is recomputed when it has none yet, when a signal or cost of the
customer has an id above the watermark it was computed with (one index probe each:
signal_customer_id_idx, cost_customer_id_idx), or when it would be older than
BALANCE_LAG_SECONDS before the next run. The watermark shows new signals within one run;
what it cannot see (a signal whose transaction committed after a higher id's, a signal
attached to the customer later, a grant, a close, an agreement change) is caught by age.
The API never serves a balance older than BALANCE_LAG_SECONDS, whatever beat does."""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import Cost, Signal
from billing.alerts import budget_alert_email, budget_alert_raised
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


def balances_due(*, now: datetime) -> list[tuple[int, int, int]]:
    """(customer id, last signal id, last cost id) of each customer with credits, an
    agreement or a budget whose balance is missing, behind, or stale by the next run;
    the least recently computed first. Reads only."""
    every = settings.BALANCE_REFRESH_SECONDS
    stale = now - timedelta(seconds=max(settings.BALANCE_LAG_SECONDS - every, 0))
    billable = (
        Q(Exists(PriceAgreement.objects.filter(customer=OuterRef("pk"))))
        | Q(Exists(CreditGrant.objects.filter(customer=OuterRef("pk"))))
        | Q(Exists(Budget.objects.filter(customer=OuterRef("pk"))))
    )
    rows = (
        Customer.objects.filter(billable)
        .annotate(last_signal=_last_id(Signal), last_cost=_last_id(Cost))
        .filter(
            Q(balance__isnull=True)
            | Q(balance__computed_at__lte=stale)
            | Q(last_signal__gt=F("balance__signals_seen"))
            | Q(last_cost__gt=F("balance__costs_seen"))
        )
        .order_by(F("balance__computed_at").asc(nulls_first=True), "pk")
    )
    return list(rows.values_list("pk", "last_signal", "last_cost"))


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


def balance_refresh(*, now: datetime | None = None) -> int:
    """Recompute and store the balances due (balances_due), raising budget alerts.
    Safe to run twice or concurrently: the store is an upsert, alerts are unique. With
    `now` (tests) every balance is computed at that instant; otherwise each at the time
    its computation starts. A run stops once it has worked BALANCE_REFRESH_SECONDS, so
    runs do not pile up: the next one goes on with the oldest balances. Returns the
    number of balances stored."""
    started = time.monotonic()
    # The previews rate as a close does: on a fresh database, with tables nobody has
    # analysed yet, the planner must not guess (services.ANALYSED_MODELS, as a close).
    statistics_ensure(ANALYSED_MODELS)
    due = balances_due(now=now or timezone.now())
    stored = 0
    for customer_id, last_signal, last_cost in due:
        try:
            _refresh_one(customer_id, last_signal, last_cost, now=now or timezone.now())
            stored += 1
        except Exception:  # one customer's problem never holds up the others' balances
            logger.exception("could not refresh the balance of customer %s", customer_id)
        if time.monotonic() - started > settings.BALANCE_REFRESH_SECONDS:
            break
    logger.info(
        "refreshed %s of %s balances due in %.3f s", stored, len(due), time.monotonic() - started
    )
    return stored


def _refresh_one(customer_id: int, last_signal: int, last_cost: int, *, now: datetime) -> None:
    customer = Customer.objects.select_related("budget").get(pk=customer_id)
    balance = balance_compute(customer, now=now)
    balance.signals_seen, balance.costs_seen = last_signal, last_cost
    with transaction.atomic():
        balance_store(balance)
        budget = budget_of(customer)
        alerts = budget_alerts_raise(budget=budget, balance=balance) if budget else []
        for alert in alerts:
            transaction.on_commit(lambda pk=alert.pk: budget_alert_notify(pk))
