"""Two refreshes at once (PostgreSQL): one stored balance per customer, and each budget
threshold alerted once (one alert row, one e-mail, one webhook event)."""

import threading
from decimal import Decimal as D

import pytest
from django.core import mail
from django.db import connection

from billing.balance_refresh import balance_refresh
from billing.models import Budget, BudgetAlert, CustomerBalance
from tests.balance_helpers import T0
from tests.billing_helpers import World
from webhooks.models import Event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(n: int) -> list:
    barrier = threading.Barrier(n)
    errors = []

    def refresh():
        try:
            barrier.wait()
            balance_refresh(now=T0)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.parametrize("attempt", range(3))
def test_two_refreshes_at_once_alert_each_threshold_once(on_postgres, settings, attempt):
    settings.FINANCE_EMAILS = ["finance@seller.example"]
    w = World(unit_price=D("10.00"))
    Budget.objects.create(customer=w.customer, amount=D("100.00"))
    w.signals(9)  # 90.00 of 100.00: 50% and 80%
    assert race(2) == []
    assert CustomerBalance.objects.filter(customer=w.customer).count() == 1
    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50, 80]
    assert sorted(m.subject.split(" ")[1] for m in mail.outbox) == ["50%", "80%"]
    assert Event.objects.filter(type="budget.threshold").count() == 2
