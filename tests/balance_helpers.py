"""Balance tests: a second agreement for a World's customer, reading the balance
endpoint at a stated time, and counting the rows a read must not write."""

from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

from agents.models import Signal
from billing.models import (
    BillingPeriod,
    BudgetAlert,
    CreditGrant,
    CreditLedgerEntry,
    CustomerBalance,
    Invoice,
)
from tests import factories as f

T0 = datetime(2026, 1, 20, tzinfo=UTC)


def second_agreement(w, *, unit_price: str, event: str = "done2"):
    """Another agent's outcome priced for the World's customer by a second agreement
    (same dates and currency). Returns a function that records n successes of it."""
    agent = f.AgentFactory()
    outcome = f.OutcomeDefinitionFactory(agent=agent, event_name=event)
    f.OutcomeCriterionFactory(definition=outcome, field_path="status", value="ok")
    agreement = f.PriceAgreementFactory(customer=w.customer, currency=w.customer.currency)
    f.PriceFactory(agreement=agreement, outcome_definition=outcome, unit_price=Decimal(unit_price))

    def signals(n, at=datetime(2026, 1, 10, 12, tzinfo=UTC)):
        for _ in range(n):
            f.SignalFactory(
                agent=agent,
                customer=w.customer,
                event_name=event,
                occurred_at=at,
                data={"status": "ok"},
            )

    signals.agent = agent
    signals.agreement = agreement
    return signals


@contextmanager
def clock(moment: datetime):
    """timezone.now() is `moment` (for the endpoint's age and lag; no sleeping)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def balance_get(client, external_id: str, *, at: datetime, auth: str | None = None, **query):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    with clock(at):
        return client.get(f"/api/v1/customers/{external_id}/balance", query, **headers)


def written_rows() -> dict[str, int]:
    """Row counts of everything a balance computation could be tempted to write."""
    models = (
        BillingPeriod,
        BudgetAlert,
        CreditGrant,
        CreditLedgerEntry,
        CustomerBalance,
        Invoice,
        Signal,
    )
    return {model.__name__: model.objects.count() for model in models}
