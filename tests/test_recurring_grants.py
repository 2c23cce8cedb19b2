"""Recurring allowances granted by beat: due at the date's UTC midnight, month ends kept,
missed months caught up, each date once, until the end date; a recurring grant whose
customer changed currency is skipped with a warning, not a crash."""

import logging
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from django.conf import settings

from billing.models import CreditGrant, RecurringGrant
from billing.recurring_grants import recurring_grants_create
from billing.tasks import create_recurring_grants, expire_credit_grants
from config.celery import app
from tests import factories as f
from tests.credit_helpers import ledger_sum

pytestmark = pytest.mark.django_db


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def allowance(customer=None, **fields) -> RecurringGrant:
    customer = customer or f.CustomerFactory()
    fields.setdefault("starts_on", date(2026, 1, 1))
    return RecurringGrant.objects.create(
        customer=customer,
        name=fields.pop("name", "Monthly allowance"),
        currency=fields.pop("currency", customer.currency),
        amount=fields.pop("amount", D("500.00")),
        **fields,
    )


def granted(recurring) -> list:
    return [
        (g.recurring_on, g.name, g.effective_at, g.expires_at)
        for g in recurring.grants.order_by("recurring_on")
    ]


def test_a_month_end_allowance_is_due_at_midnight_and_keeps_the_month_end():
    r = allowance(starts_on=date(2026, 1, 31), valid_days=30)
    assert recurring_grants_create(now=at(2026, 1, 30, 23, 59)) == 0
    assert recurring_grants_create(now=at(2026, 1, 31)) == 1
    assert recurring_grants_create(now=at(2026, 2, 27, 23, 59)) == 0
    # February has no 31st: its grant is on the 28th; March's on the 31st again.
    assert recurring_grants_create(now=at(2026, 2, 28)) == 1
    assert recurring_grants_create(now=at(2026, 3, 31, 0, 0, 1)) == 1
    # Each expires 30 days after its midnight; the name says its date.
    assert granted(r) == [
        (date(2026, 1, 31), "Monthly allowance 2026-01-31", at(2026, 1, 31), at(2026, 3, 2)),
        (date(2026, 2, 28), "Monthly allowance 2026-02-28", at(2026, 2, 28), at(2026, 3, 30)),
        (date(2026, 3, 31), "Monthly allowance 2026-03-31", at(2026, 3, 31), at(2026, 4, 30)),
    ]
    assert [(g.amount, g.remaining) for g in r.grants.all()] == [(D("500.00"), D("500.00"))] * 3
    g = r.grants.first()
    assert (g.source, g.kind, g.unit, g.currency) == ("recurring", "paid", "money", "USD")
    assert [(e.kind, e.amount) for e in g.entries.all()] == [("grant", D("500.00"))]


def test_two_missed_months_are_caught_up_and_a_second_run_creates_nothing():
    r = allowance()  # 1st of every month from January, never expires
    assert recurring_grants_create(now=at(2026, 1, 1, 1)) == 1
    # No beat ran in February or March (say, the worker was down): both are owed.
    assert recurring_grants_create(now=at(2026, 3, 15)) == 2
    assert recurring_grants_create(now=at(2026, 3, 15)) == 0
    assert [(on, expires) for on, _, _, expires in granted(r)] == [
        (date(2026, 1, 1), None),
        (date(2026, 2, 1), None),
        (date(2026, 3, 1), None),
    ]
    for g in r.grants.all():
        assert ledger_sum(g) == D("500.00") == g.remaining


def test_quarters_years_the_end_date_and_inactive_allowances():
    quarterly = allowance(every="quarter", starts_on=date(2026, 1, 15), ends_on=date(2026, 7, 15))
    yearly = allowance(every="year", starts_on=date(2025, 2, 1), amount=D("12000.00"))
    stopped = allowance(active=False)
    later = allowance(starts_on=date(2027, 1, 1))
    recurring_grants_create(now=at(2027, 3, 1))
    assert [on for on, *_ in granted(quarterly)] == [
        date(2026, 1, 15),
        date(2026, 4, 15),
        date(2026, 7, 15),  # the end date is the last grant's
    ]
    assert [on for on, *_ in granted(yearly)] == [
        date(2025, 2, 1),
        date(2026, 2, 1),
        date(2027, 2, 1),
    ]
    assert granted(stopped) == []
    assert [on for on, *_ in granted(later)] == [
        date(2027, 1, 1),
        date(2027, 2, 1),
        date(2027, 3, 1),
    ]


def test_an_outcome_allowance_grants_outcomes_of_its_definition():
    customer = f.CustomerFactory()
    outcome = f.OutcomeDefinitionFactory()
    f.PriceFactory(agreement=f.PriceAgreementFactory(customer=customer), outcome_definition=outcome)
    r = allowance(customer, unit="outcomes", outcome_definition=outcome, amount=D("100"))
    recurring_grants_create(now=at(2026, 1, 2))
    g = r.grants.get()
    assert (g.unit, g.outcome_definition, g.amount) == ("outcomes", outcome, D("100"))


def test_a_customer_that_changed_currency_is_skipped_with_a_warning(caplog):
    customer = f.CustomerFactory(currency="USD")
    euros = allowance(customer, name="Old euro allowance", currency="EUR")
    fine = allowance()
    with caplog.at_level(logging.WARNING, logger="billing.recurring_grants"):
        assert recurring_grants_create(now=at(2026, 2, 1)) == 2  # the other one's two
    assert granted(euros) == []
    assert len(granted(fine)) == 2
    warning = caplog.records[-1].getMessage()
    assert "Old euro allowance" in warning and customer.external_id in warning
    assert "invoiced in USD" in warning
    assert len(caplog.records) == 1  # one line per run, not one per missed date


def test_a_long_name_is_cut_to_fit_with_its_date():
    r = allowance(name="A" * 200)
    recurring_grants_create(now=at(2026, 1, 1))
    name = r.grants.get().name
    assert len(name) == 200 and name.endswith("A 2026-01-01")


def test_beat_runs_both_credit_tasks_hourly():
    beat = settings.CELERY_BEAT_SCHEDULE.values()
    schedule = {entry["task"]: entry["schedule"] for entry in beat}
    for task in (create_recurring_grants, expire_credit_grants):
        assert task.name in app.tasks
        assert schedule[task.name].total_seconds() == 3600
    allowance(starts_on=date(2026, 1, 1))
    assert create_recurring_grants() >= 1  # now is after 2026-01-01
    assert create_recurring_grants() == 0
    assert CreditGrant.objects.count() >= 1
