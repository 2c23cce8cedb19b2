"""The issue's check, end to end: a customer with a prepaid grant runs out during a
period. Its agent posts outcomes through the API; beat's refresh keeps the balance; the
balance endpoint turns `allowed: false` within the stated lag; the budget alerts fire
once per threshold (e-mail and webhook); signals are still accepted; the close applies
the credits and bills the overage with tax; the ledger adds up by hand."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core import mail

from billing.balance_refresh import balance_refresh
from billing.models import Budget, BudgetAlert, CreditGrant
from billing.services import period_close
from tests import factories as f
from tests.api_helpers import agent_key, post
from tests.balance_helpers import T0, balance_get
from tests.billing_helpers import World
from tests.credit_helpers import grant, ledger_sum
from tests.webhook_helpers import endpoint
from webhooks.models import Event

pytestmark = pytest.mark.django_db
SECOND = timedelta(seconds=1)


def test_a_customer_runs_out_of_prepaid_credits_during_a_period(
    client, django_capture_on_commit_callbacks
):
    finance = User.objects.create_user("fin", email="finance@seller.example", is_staff=True)
    finance.groups.add(Group.objects.get(name="Finance"))
    endpoint("http://127.0.0.1:9/hooks", types=["budget.threshold"])
    vat = f.TaxRateFactory(name="VAT 20%", percent=D("20"))
    w = World(unit_price=D("12.50"), agreement_kwargs={"tax_rate": vat})
    g = grant(w.customer, "100.00", name="Q1 commitment")
    Budget.objects.create(
        customer=w.customer, limit=Budget.Limit.CREDITS_ONLY, enforcement=Budget.Enforcement.HARD
    )
    key = agent_key(w.agent)
    sent = 0

    def outcomes(n):
        nonlocal sent
        for _ in range(n):
            sent += 1
            response = post(
                client,
                "/api/v1/signals",
                {
                    "event_name": "done",
                    "customer_id": w.customer.external_id,
                    "idempotency_key": f"run-{sent}",
                    "occurred_at": "2026-01-15T10:00:00Z",
                    "data": {"status": "ok"},
                },
                key,
            )
            assert response.status_code == 201, response.content

    def refresh(at):
        with django_capture_on_commit_callbacks(execute=True):
            balance_refresh(now=at)

    def balance(at):
        response = balance_get(client, w.customer.external_id, at=at, auth=f"Bearer {key}")
        assert response.status_code == 200, response.content
        return response.json()

    lag = settings.BALANCE_LAG_SECONDS
    assert lag == 30  # the stated default bound

    outcomes(4)  # 50.00 of 100.00
    refresh(T0)
    body = balance(T0 + SECOND)
    assert (body["allowed"], body["used_open"], body["remaining"]) == (True, "50.00", "50.00")
    assert body["age_seconds"] <= lag

    outcomes(3)  # 87.50
    refresh(T0 + 10 * SECOND)
    assert balance(T0 + 11 * SECOND)["allowed"] is True

    outcomes(2)  # 112.50: the credits are gone at the 9th outcome
    ran_out_at = T0 + 12 * SECOND
    refresh(T0 + 20 * SECOND)
    body = balance(T0 + 20 * SECOND)
    assert (body["allowed"], body["remaining"], body["overage_open"]) == (False, "0.00", "12.50")
    assert (T0 + 20 * SECOND - ran_out_at).total_seconds() <= lag

    outcomes(1)  # still accepted while not allowed: 125.00, 25.00 over
    refresh(T0 + 30 * SECOND)
    assert balance(T0 + 31 * SECOND)["overage_open"] == "25.00"

    # 50%, 80% and 100% of the credits: each once, by e-mail and webhook event.
    alerts = BudgetAlert.objects.order_by("threshold")
    assert [a.threshold for a in alerts] == [50, 80, 100]
    assert len(mail.outbox) == 3
    assert Event.objects.filter(type="budget.threshold").count() == 3

    invoice = period_close(period_id=w.period(1).pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    # 10 x 12.50 = 125.00; credits -100.00; net 25.00; VAT 20% = 5.00; total 30.00.
    assert sorted((line.kind, line.amount) for line in invoice.lines.all()) == [
        ("credits_applied", D("-100.00")),
        ("outcome", D("125.00")),
    ]
    assert (invoice.net, invoice.tax, invoice.total) == (D("25.00"), D("5.00"), D("30.00"))
    g = CreditGrant.objects.get(pk=g.pk)
    # Ledger by hand: +100.00 granted, -100.00 drawn by the invoice = 0.00.
    assert [(e.kind, e.amount, e.invoice_id) for e in g.entries.order_by("pk")] == [
        ("grant", D("100.00"), None),
        ("drawdown", D("-100.00"), invoice.pk),
    ]
    assert g.remaining == D("0") == ledger_sum(g)
