"""A budget alert's e-mail that fails (SMTP down) is tried again by the next refreshes
with growing waits, sent once when it works, and given up after EMAIL_ATTEMPTS; the
webhook event goes out at once either way. An alert whose first try never ran (the
process stopped after the commit) is sent by the next refresh."""

from datetime import timedelta
from decimal import Decimal as D
from smtplib import SMTPServerDisconnected

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail

from billing import alerts
from billing.balance_refresh import EMAIL_ATTEMPTS, balance_refresh, budget_alert_emails_retry
from billing.models import Budget, BudgetAlert
from tests.balance_helpers import T0
from tests.billing_helpers import World
from webhooks.models import Event

pytestmark = pytest.mark.django_db
MINUTE = timedelta(minutes=1)


@pytest.fixture
def alert_world(db):
    user = User.objects.create_user("fin", email="finance@seller.example", is_staff=True)
    user.groups.add(Group.objects.get(name="Finance"))
    w = World(unit_price=D("10.00"))
    Budget.objects.create(customer=w.customer, amount=D("100.00"))
    w.signals(5)  # 50.00 of 100.00: the 50% threshold
    return w


@pytest.fixture
def smtp_down(monkeypatch):
    real = alerts.send_mail

    def refuse(**kwargs):
        raise SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(alerts, "send_mail", refuse)
    return lambda: monkeypatch.setattr(alerts, "send_mail", real)


def test_a_failed_alert_email_is_retried_later_and_sent_once(
    alert_world, smtp_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        balance_refresh(now=T0)
    alert = BudgetAlert.objects.get()
    assert (alert.threshold, alert.emailed_at, alert.email_attempts) == (50, None, 1)
    assert mail.outbox == []
    assert Event.objects.filter(type="budget.threshold").count() == 1  # not held up

    smtp_down()  # the mail server is back
    assert budget_alert_emails_retry(now=T0 + 30 * timedelta(seconds=1)) == 0  # too soon
    assert budget_alert_emails_retry(now=T0 + MINUTE) == 1
    assert [m.subject for m in mail.outbox] == [
        f"Budget 50% reached: {alert_world.customer.name} ({alert_world.customer.external_id})"
    ]
    alert.refresh_from_db()
    assert alert.emailed_at is not None and alert.email_attempts == 2
    assert budget_alert_emails_retry(now=T0 + 10 * MINUTE) == 0
    assert len(mail.outbox) == 1


def test_the_retries_wait_longer_each_time_and_give_up(
    alert_world, smtp_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        balance_refresh(now=T0)
    tried_at = []
    for minute in range(0, 300):
        before = BudgetAlert.objects.get().email_attempts
        budget_alert_emails_retry(now=T0 + minute * MINUTE)
        if BudgetAlert.objects.get().email_attempts > before:
            tried_at.append(minute)
    assert tried_at == [1, 3, 7, 15, 31, 63, 127]  # then given up
    alert = BudgetAlert.objects.get()
    assert (alert.email_attempts, alert.emailed_at) == (EMAIL_ATTEMPTS, None)
    assert mail.outbox == []


def test_an_alert_whose_first_try_never_ran_is_sent_by_the_next_refresh(alert_world):
    balance_refresh(now=T0)  # committed, but its on-commit e-mail never ran
    assert BudgetAlert.objects.get().email_attempts == 0 and mail.outbox == []
    assert budget_alert_emails_retry(now=T0 + timedelta(seconds=10)) == 1
    assert len(mail.outbox) == 1
    assert budget_alert_emails_retry(now=T0 + timedelta(seconds=20)) == 0
    assert len(mail.outbox) == 1
