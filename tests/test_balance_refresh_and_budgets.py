"""The refresh task keeps balances within the lag bound and raises budget alerts once per
threshold and period (e-mail to Finance, a `budget.threshold` webhook event); a hard
credits-only customer turns `allowed: false` within the lag when it runs out, its
signals are still accepted, and the close bills them as overage. Time is explicit
(`now`, a patched clock): nothing sleeps."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail

from agents.models import Signal
from billing.balance_refresh import balance_refresh, balances_due
from billing.models import Budget, BudgetAlert, CustomerBalance
from billing.services import period_close
from tests import factories as f
from tests.api_helpers import agent_key, post
from tests.balance_helpers import T0, balance_get
from tests.billing_helpers import World
from tests.credit_helpers import grant
from tests.webhook_helpers import endpoint
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db
SECOND = timedelta(seconds=1)


def hard_credits_only(w):
    return Budget.objects.create(
        customer=w.customer, limit=Budget.Limit.CREDITS_ONLY, enforcement=Budget.Enforcement.HARD
    )


def test_a_hard_credits_only_customer_is_stopped_within_the_lag_and_nothing_is_lost(client):
    w = World(unit_price=D("10.00"))
    g = grant(w.customer, "50.00")
    hard_credits_only(w)
    key = agent_key(w.agent)
    auth = f"Bearer {key}"
    w.signals(3)
    assert balance_refresh(now=T0) == 1
    body = balance_get(client, w.customer.external_id, at=T0 + SECOND, auth=auth).json()
    assert (body["allowed"], body["remaining"], body["age_seconds"]) == (True, "20.00", 1.0)

    w.signals(2)  # 50.00 used: the credits are gone
    # Until the next refresh the stored balance is served, as old as it says.
    body = balance_get(client, w.customer.external_id, at=T0 + 5 * SECOND, auth=auth).json()
    assert (body["allowed"], body["age_seconds"], body["lag_bound_seconds"]) == (True, 5.0, 30)
    # The next run (10 s later) sees the new signals by its watermark, although the
    # stored balance is not old yet.
    assert balance_refresh(now=T0 + 10 * SECOND) == 1
    body = balance_get(client, w.customer.external_id, at=T0 + 11 * SECOND, auth=auth).json()
    assert (body["allowed"], body["remaining"], body["overage_open"]) == (False, "0.00", "0.00")

    # Signals are still accepted while not allowed...
    response = post(
        client,
        "/api/v1/signals",
        {
            "event_name": "done",
            "customer_id": w.customer.external_id,
            "idempotency_key": "after-the-stop",
            "occurred_at": "2026-01-20T00:00:30Z",
            "data": {"status": "ok"},
        },
        key,
    )
    assert response.status_code == 201
    assert Signal.objects.filter(customer=w.customer).count() == 6
    # ...and once the stored balance is older than the lag, a request computes it at
    # once (without storing it): 60.00 spent, 10.00 over.
    stored_at = CustomerBalance.objects.get().computed_at
    body = balance_get(client, w.customer.external_id, at=T0 + 45 * SECOND, auth=auth).json()
    assert (body["allowed"], body["overage_open"], body["age_seconds"]) == (False, "10.00", 0.0)
    assert CustomerBalance.objects.get().computed_at == stored_at

    # The close applies the 50.00 of credits and bills the overage.
    invoice = period_close(period_id=w.period(1).pk, now=datetime(2026, 2, 5, tzinfo=UTC))
    lines = [(line.kind, line.amount) for line in invoice.lines.order_by("position")]
    assert lines == [("outcome", D("60.00")), ("credits_applied", D("-50.00"))]
    assert invoice.total == D("10.00")
    g.refresh_from_db()
    assert g.remaining == D("0")
    assert [(e.kind, e.amount) for e in g.entries.order_by("pk")] == [
        ("grant", D("50.00")),
        ("drawdown", D("-50.00")),
    ]


def test_a_spend_limit_stops_at_its_amount_and_a_soft_one_never():
    w = World(unit_price=D("10.00"))
    budget = Budget.objects.create(
        customer=w.customer, amount=D("50.00"), enforcement=Budget.Enforcement.HARD
    )
    w.signals(4)
    balance_refresh(now=T0)
    assert balance_allowed_now(w) is True  # 40.00 < 50.00
    w.signals(1)
    balance_refresh(now=T0 + 10 * SECOND)
    assert balance_allowed_now(w) is False  # 50.00 reached
    budget.enforcement = Budget.Enforcement.SOFT
    budget.save()
    assert balance_allowed_now(w) is True  # the budget is read with each request


def balance_allowed_now(w) -> bool:
    from billing.balances import balance_allowed, budget_of

    customer = type(w.customer).objects.select_related("balance", "budget").get(pk=w.customer.pk)
    return balance_allowed(customer.balance, budget_of(customer))


def test_only_changed_or_ageing_balances_are_recomputed():
    w = World(unit_price=D("10.00"))
    grant(w.customer, "100.00")
    f.CustomerFactory()  # nothing to bill, no credits, no budget: never computed
    assert balance_refresh(now=T0) == 1
    assert balance_refresh(now=T0 + SECOND) == 0  # fresh, nothing new
    w.signals(1)
    due = balances_due(now=T0 + 2 * SECOND)
    assert [(d.customer_id, d.checkable) for d in due] == [(w.customer.pk, False)]
    assert balance_refresh(now=T0 + 2 * SECOND) == 1
    f.CostFactory(agent=w.agent, customer=w.customer, amount=D("0.40"))
    assert balance_refresh(now=T0 + 3 * SECOND) == 1  # a new cost (cost-plus prices)
    # Stored at +3 s: from +13 s, the next run (10 s later, working up to 10 s) might
    # reach it after the 30 s bound.
    assert balance_refresh(now=T0 + 12 * SECOND) == 0
    # Nothing it was computed from changed: it is confirmed, not recomputed.
    assert balance_refresh(now=T0 + 13 * SECOND) == 1
    stored = CustomerBalance.objects.get()
    assert (stored.computed_at, stored.checked_at) == (T0 + 3 * SECOND, T0 + 13 * SECOND)
    assert stored.signals_seen == Signal.objects.get().pk and stored.costs_seen > 0
    assert stored.signals_count == 1


@pytest.fixture
def finance(db):
    user = User.objects.create_user("fin", email="finance@seller.example", is_staff=True)
    user.groups.add(Group.objects.get(name="Finance"))
    return user


def test_alerts_once_per_threshold_per_period_by_mail_and_webhook(
    finance, django_capture_on_commit_callbacks
):
    hook = endpoint("http://127.0.0.1:9/hooks", types=["budget.threshold"])
    w = World(unit_price=D("10.00"))
    budget = Budget.objects.create(customer=w.customer, amount=D("100.00"))  # soft

    def refresh(at):
        with django_capture_on_commit_callbacks(execute=True):
            balance_refresh(now=at)
        return sorted((a.period_starts_at.month, a.threshold) for a in BudgetAlert.objects.all())

    w.signals(5)  # 50.00 of 100.00
    assert refresh(T0) == [(1, 50)]
    assert refresh(T0 + 25 * SECOND) == [(1, 50)]  # recomputed (old): nothing new
    w.signals(4)  # 90.00
    assert refresh(T0 + 30 * SECOND) == [(1, 50), (1, 80)]
    w.signals(2)  # 110.00
    assert refresh(T0 + 40 * SECOND) == [(1, 50), (1, 80), (1, 100)]
    for _ in range(6):  # February: 60.00 (January, unsettled, is not February's spend)
        w.signal(at=datetime(2026, 2, 10, tzinfo=UTC))
    feb = datetime(2026, 2, 15, tzinfo=UTC)
    assert refresh(feb) == [(1, 50), (1, 80), (1, 100), (2, 50)]

    assert [m.subject for m in mail.outbox] == [
        f"Budget {t}% reached: {w.customer.name} ({w.customer.external_id})"
        for t in (50, 80, 100, 50)
    ]
    assert all(m.to == ["finance@seller.example"] for m in mail.outbox)
    assert "used 90.00 of its spend limit of 100.00 USD" in mail.outbox[1].body
    events = Event.objects.filter(type="budget.threshold").order_by("created_at", "id")
    assert events.count() == 4 == Delivery.objects.filter(endpoint=hook).count()
    alert = BudgetAlert.objects.get(threshold=80)
    data = Event.objects.get(key=f"budget.threshold:{alert.pk}").payload["data"]
    assert data == {
        "object": "budget_alert",
        "id": alert.pk,
        "customer": w.customer.external_id,
        "currency": "USD",
        "budget": "spend",
        "enforcement": "soft",
        "threshold": 80,
        "used": "90.00",
        "limit": "100.00",
        "period_start": "2026-01-01T00:00:00+00:00",
        "raised_at": (T0 + 30 * SECOND).isoformat(),
    }
    assert budget.alerts.count() == 4


def test_a_credits_only_budget_alerts_on_the_credits_used(django_capture_on_commit_callbacks):
    w = World(unit_price=D("10.00"))
    grant(w.customer, "200.00")
    Budget.objects.create(customer=w.customer, limit=Budget.Limit.CREDITS_ONLY)
    w.signals(17)  # 170.00 of 200.00 = 85%
    with django_capture_on_commit_callbacks(execute=True):
        balance_refresh(now=T0)
    alerts = BudgetAlert.objects.order_by("threshold")
    assert [(a.threshold, a.used, a.limit) for a in alerts] == [
        (50, D("170.00"), D("200.00")),
        (80, D("170.00"), D("200.00")),
    ]


def test_a_run_stops_after_its_time_and_the_next_goes_on_with_the_oldest(settings):
    first, second = World(unit_price=D("10.00")), World(unit_price=D("10.00"))
    settings.BALANCE_REFRESH_SECONDS = 0  # every run stops after one balance
    assert balance_refresh(now=T0) == 1
    assert balance_refresh(now=T0) == 1
    assert balance_refresh(now=T0) == 0
    assert {b.customer_id for b in CustomerBalance.objects.all()} == {
        first.customer.pk,
        second.customer.pk,
    }
