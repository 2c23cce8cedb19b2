"""Credit grants under concurrency (PostgreSQL): two beats creating recurring grants at
once create each date's grant once; two expiry beats write a remainder off once; one
reference sent twice at once creates one grant and answers it to both."""

import threading
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from django.db import connection

from billing.credit_grants import grant_create_once
from billing.credits import grants_expire
from billing.models import CreditGrant, CreditLedgerEntry, RecurringGrant
from billing.recurring_grants import recurring_grants_create
from tests import factories as f
from tests.credit_helpers import grant, ledger_sum

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(function, times: int = 2) -> list:
    """Run function() in `times` threads at once; their results (or exceptions)."""
    barrier = threading.Barrier(times)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(function())
        except Exception as exc:  # reported to the test
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("attempt", range(3))
def test_two_beats_at_once_create_each_recurring_grant_once(on_postgres, attempt):
    customer = f.CustomerFactory()
    recurring = RecurringGrant.objects.create(
        customer=customer,
        name="Monthly",
        currency="USD",
        amount=D("100.00"),
        starts_on=date(2026, 1, 1),
    )
    now = datetime(2026, 4, 2, tzinfo=UTC)  # January to April: 4 grants owed
    results = race(lambda: recurring_grants_create(now=now))
    # Between them, 4 (which run made which may vary); neither failed.
    assert all(isinstance(r, int) for r in results) and sum(results) == 4, results
    assert sorted(recurring.grants.values_list("recurring_on", flat=True)) == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
        date(2026, 4, 1),
    ]
    assert CreditLedgerEntry.objects.count() == 4


@pytest.mark.parametrize("attempt", range(3))
def test_two_expiry_beats_at_once_write_a_remainder_off_once(on_postgres, attempt):
    g = grant(f.CustomerFactory(), "50.00", expires_at=datetime(2026, 1, 20, tzinfo=UTC))
    results = race(lambda: grants_expire(now=datetime(2026, 2, 1, tzinfo=UTC)))
    assert sorted(results) == [0, 1], results
    g.refresh_from_db()
    assert g.entries.filter(kind="expiry").count() == 1
    assert g.remaining == D("0") == ledger_sum(g)


def test_one_reference_sent_twice_at_once_creates_one_grant(on_postgres):
    customer = f.CustomerFactory()
    values = {"name": "Deal", "amount": D("75.00"), "source": "api"}

    def create():
        created_grant, created = grant_create_once(
            customer=customer, values=values, reference="po-9"
        )
        return created_grant.pk, created

    results = race(create)
    assert sorted(created for _, created in results) == [False, True], results
    assert len({pk for pk, _ in results}) == 1
    assert CreditGrant.objects.count() == 1 and CreditLedgerEntry.objects.count() == 1
