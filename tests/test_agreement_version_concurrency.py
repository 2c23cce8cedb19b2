"""A close and a version change of the same agreement at once never mix versions in one
invoice: March is billed wholly at the old terms (and the version is refused for it) or
wholly at the new ones (PostgreSQL)."""

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.db import connection

from billing.models import AgreementVersion
from billing.periods import periods_create
from billing.services import period_close
from billing.version_changes import version_schedule
from customers.errors import ConflictError
from tests.billing_helpers import World
from tests.test_agreement_versions import terms

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MAR_1 = datetime(2026, 3, 1, tzinfo=UTC)
MAR_15 = datetime(2026, 3, 15, tzinfo=UTC)
APR_5 = datetime(2026, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("delay", [0, 0.01, 0.02, 0.2])
def test_a_close_and_a_version_change_at_once_bill_one_version(on_postgres, delay):
    w = World(unit_price=D("5.00"))
    w.signals(1)
    w.signals(4, at=MAR_15)
    periods_create(agreement=w.agreement, until=APR_5)
    for month in (1, 2):
        period_close(period_id=w.period(month).pk, now=datetime(2026, month + 1, 3, tzinfo=UTC))
    new_terms = terms(w.agreement, unit_price=D("6.00"), fee=D("10.00"))
    barrier = threading.Barrier(2)
    results = {}

    def close():
        try:
            barrier.wait()
            results["invoice"] = period_close(period_id=w.period(3).pk, now=APR_5)
        finally:
            connection.close()

    def change():
        try:
            barrier.wait()
            time.sleep(delay)  # both orders happen: the close first or the change
            results["version"] = version_schedule(
                agreement_id=w.agreement.pk,
                effective_from=MAR_1,
                terms=new_terms,
                source="admin",
                now=datetime(2026, 2, 20, tzinfo=UTC),  # decided before March
            )
        except ConflictError as error:
            results["version"] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=close), threading.Thread(target=change)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    march = results["invoice"]
    amounts = {line.kind: line.amount for line in march.lines.all()}
    if isinstance(results["version"], ConflictError):
        assert "which has been invoiced" in results["version"].message
        assert amounts == {"outcome": D("20.00")}  # 4 x 5.00, version 1 whole
        assert not AgreementVersion.objects.exists()
    else:
        assert amounts == {"outcome": D("24.00"), "platform_fee": D("10.00")}
        assert AgreementVersion.objects.count() == 2
