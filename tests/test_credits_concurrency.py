"""Two agreements of one customer close at the same time (PostgreSQL): each credit is
drawn once. The grants' rows are locked in id order by each close, so the second close
draws what the first left."""

import threading
from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection
from django.db.models import Sum

from billing.models import CreditGrant, CreditLedgerEntry, InvoiceLine
from billing.periods import periods_create
from billing.services import period_close
from tests import factories as f
from tests.billing_helpers import AFTER_JAN, JAN, World
from tests.credit_helpers import grant, ledger_sum

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def second_agreement(w):
    """Another agreement of the same customer (another agent's outcome), 4 x 10.00."""
    agent = f.AgentFactory()
    outcome = f.OutcomeDefinitionFactory(agent=agent, event_name="other")
    f.OutcomeCriterionFactory(definition=outcome, field_path="status", value="ok")
    agreement = f.PriceAgreementFactory(
        customer=w.customer, currency="USD", starts_on=date(2026, 1, 1)
    )
    f.PriceFactory(agreement=agreement, outcome_definition=outcome, unit_price=D("10.00"))
    periods_create(agreement=agreement, until=AFTER_JAN)
    for _ in range(4):
        f.SignalFactory(
            agent=agent,
            customer=w.customer,
            event_name="other",
            occurred_at=JAN,
            data={"status": "ok"},
        )
    return agreement.periods.get(starts_at__month=1)


@pytest.mark.parametrize("attempt", range(3))
def test_two_closes_of_one_customer_draw_each_credit_once(on_postgres, attempt):
    w = World(unit_price=D("10.00"))
    w.signals(4)  # 4 x 10.00 = 40.00, and 40.00 on the other agreement
    periods = [w.period(1), second_agreement(w)]
    g = grant(w.customer, "50.00")
    barrier = threading.Barrier(2)
    errors = []

    def close(period_id):
        try:
            barrier.wait()
            period_close(period_id=period_id)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=close, args=(p.pk,)) for p in periods]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    g = CreditGrant.objects.get(pk=g.pk)
    # 80.00 of charges, 50.00 of credits: drawn once in all, 40.00 by one close and
    # 10.00 by the other.
    assert g.remaining == D("0") == ledger_sum(g)
    drawn = sorted(-e.amount for e in CreditLedgerEntry.objects.filter(grant=g, kind="drawdown"))
    assert drawn == [D("10.00"), D("40.00")]
    applied = InvoiceLine.objects.filter(kind="credits_applied").aggregate(s=Sum("amount"))
    assert applied["s"] == D("-50.00")
