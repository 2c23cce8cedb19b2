"""Every rule that can be a database constraint is one: each write below bypasses
Python validation (QuerySet.create / update) and must be refused by the database,
on SQLite and on PostgreSQL alike."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from agents.models import Agent, Cost, Signal
from billing.models import ExchangeRate, OutcomeDefinition, Price, PriceAgreement, PriceTier
from customers.models import Customer
from tests import factories as f

pytestmark = pytest.mark.django_db


def refused(action):
    with pytest.raises(IntegrityError), transaction.atomic():
        action()


def test_external_ids_are_unique():
    customer = f.CustomerFactory(external_id="cus_1")
    agent = f.AgentFactory(external_id="agent-1")
    refused(lambda: Customer.objects.create(external_id="cus_1", name="x", billing_email="a@b.c"))
    refused(lambda: Agent.objects.create(external_id="agent-1", name="x"))
    assert customer.pk and agent.pk


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (Customer, "currency", "XXX"),
        (Customer, "currency", "usd"),
        (Customer, "status", "deleted"),
        (Customer, "external_id", ""),
    ],
)
def test_customer_field_rules(model, field, value):
    customer = f.CustomerFactory()
    refused(lambda: model.objects.filter(pk=customer.pk).update(**{field: value}))


def test_signal_idempotency_key_unique_per_agent_but_not_across_agents():
    signal = f.SignalFactory(idempotency_key="k1")
    refused(lambda: f.SignalFactory(agent=signal.agent, idempotency_key="k1"))
    f.SignalFactory(idempotency_key="k1")  # another agent may reuse the key
    # many signals without a key are fine
    f.SignalFactory(agent=signal.agent, idempotency_key=None)
    f.SignalFactory(agent=signal.agent, idempotency_key=None)
    assert Signal.objects.filter(idempotency_key="k1").count() == 2


def test_signal_needs_event_name():
    refused(lambda: f.SignalFactory(event_name=""))


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", Decimal("-0.01")), ("currency", "ABC"), ("category", "snacks")],
)
def test_cost_field_rules(field, value):
    cost = f.CostFactory()
    refused(lambda: Cost.objects.filter(pk=cost.pk).update(**{field: value}))


def test_cost_idempotency_and_one_cost_per_signal_key():
    cost = f.CostFactory(idempotency_key="c1")
    refused(lambda: f.CostFactory(agent=cost.agent, idempotency_key="c1"))
    signal = f.SignalFactory()
    f.CostFactory(agent=signal.agent, signal=signal, source_key="llm_cost")
    refused(lambda: f.CostFactory(agent=signal.agent, signal=signal, source_key="llm_cost"))


@pytest.mark.parametrize(
    "changes",
    [
        {"partial_rule": "sometimes"},
        {"partial_fraction": Decimal("1.5")},
        {"partial_fraction": Decimal("-0.1")},
        {"partial_rule": "fixed", "partial_fraction": None},
        {"partial_rule": "ratio", "ratio_numerator_field": "done", "ratio_denominator_field": ""},
    ],
)
def test_outcome_definition_rules(changes):
    outcome = f.OutcomeDefinitionFactory()
    refused(lambda: OutcomeDefinition.objects.filter(pk=outcome.pk).update(**changes))


def test_outcome_name_unique_per_agent():
    outcome = f.OutcomeDefinitionFactory(name="Docs")
    refused(lambda: f.OutcomeDefinitionFactory(agent=outcome.agent, name="Docs"))


@pytest.mark.parametrize(
    "changes",
    [
        {"operator": "like"},
        {"kind": "maybe"},
        {"field_path": ""},
    ],
)
def test_criterion_rules(changes):
    criterion = f.OutcomeCriterionFactory()
    from billing.models import OutcomeCriterion

    refused(lambda: OutcomeCriterion.objects.filter(pk=criterion.pk).update(**changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"ends_on": date(2025, 12, 31)},  # before starts_on 2026-01-01
        {"platform_fee": Decimal("-1")},
        {"minimum_commitment": Decimal("-1")},
        {"spend_cap": Decimal("0")},
        {"grace_period": timedelta(hours=-1)},
        {"margin_target": Decimal("150")},
        {"cadence": "weekly"},
        {"currency": "ZZZ"},
    ],
)
def test_agreement_rules(changes):
    agreement = f.PriceAgreementFactory()
    refused(lambda: PriceAgreement.objects.filter(pk=agreement.pk).update(**changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"unit_price": Decimal("-1")},
        {"unit_price": None},  # per_outcome needs a unit price
        {"model": "percent_of_value", "percent_of_value": None, "value_field": "x"},
        {"model": "percent_of_value", "percent_of_value": Decimal("8"), "value_field": ""},
        {"model": "cost_plus", "markup_percent": None},
        {"markup_percent": Decimal("-101")},
        {"included_quantity": Decimal("-1")},
        {"model": "bundle"},
    ],
)
def test_price_rules(changes):
    price = f.PriceFactory()
    refused(lambda: Price.objects.filter(pk=price.pk).update(**changes))


def test_one_price_per_outcome_per_agreement():
    price = f.PriceFactory()
    refused(
        lambda: Price.objects.create(
            agreement=price.agreement,
            outcome_definition=price.outcome_definition,
            unit_price=Decimal(1),
        )
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"from_quantity": Decimal("-1")},
        {"up_to_quantity": Decimal("0")},  # not above from_quantity 0
        {"unit_price": Decimal("-0.5")},
    ],
)
def test_tier_rules(changes):
    tier = f.PriceTierFactory()
    refused(lambda: PriceTier.objects.filter(pk=tier.pk).update(**changes))


def test_tier_start_unique_per_price():
    tier = f.PriceTierFactory(up_to_quantity=Decimal(10))
    refused(lambda: f.PriceTierFactory(price=tier.price, from_quantity=Decimal(0)))


@pytest.mark.parametrize(
    "changes",
    [{"rate": Decimal("0")}, {"quote_currency": "EUR"}, {"base_currency": "QQQ"}],
)
def test_exchange_rate_rules(changes):
    rate = f.ExchangeRateFactory()
    refused(lambda: ExchangeRate.objects.filter(pk=rate.pk).update(**changes))


def test_exchange_rate_one_per_pair_per_day():
    f.ExchangeRateFactory()
    refused(lambda: f.ExchangeRateFactory())


class TestNoOverlappingAgreements:
    """Same customer + same outcome definition + overlapping dates is refused."""

    def setup_method(self):
        self.customer = f.CustomerFactory()
        self.outcome = f.OutcomeDefinitionFactory()
        first = f.PriceAgreementFactory(
            customer=self.customer, starts_on=date(2026, 1, 1), ends_on=date(2026, 6, 30)
        )
        f.PriceFactory(agreement=first, outcome_definition=self.outcome)

    def test_overlapping_price_refused(self):
        second = f.PriceAgreementFactory(customer=self.customer, starts_on=date(2026, 6, 30))
        refused(lambda: f.PriceFactory(agreement=second, outcome_definition=self.outcome))

    def test_open_ended_agreements_overlap(self):
        second = f.PriceAgreementFactory(customer=self.customer, starts_on=date(2025, 1, 1))
        refused(lambda: f.PriceFactory(agreement=second, outcome_definition=self.outcome))

    def test_moving_dates_into_overlap_refused(self):
        second = f.PriceAgreementFactory(customer=self.customer, starts_on=date(2026, 7, 1))
        f.PriceFactory(agreement=second, outcome_definition=self.outcome)
        refused(
            lambda: PriceAgreement.objects.filter(pk=second.pk).update(starts_on=date(2026, 6, 1))
        )

    def test_adjacent_other_customer_or_other_outcome_allowed(self):
        after = f.PriceAgreementFactory(customer=self.customer, starts_on=date(2026, 7, 1))
        f.PriceFactory(agreement=after, outcome_definition=self.outcome)
        overlapping = f.PriceAgreementFactory(customer=self.customer, starts_on=date(2026, 3, 1))
        f.PriceFactory(agreement=overlapping)  # another outcome definition
        other_customer = f.PriceAgreementFactory(starts_on=date(2026, 1, 1))
        f.PriceFactory(agreement=other_customer, outcome_definition=self.outcome)
        assert Price.objects.filter(outcome_definition=self.outcome).count() == 3


class TestWhatWasBilledStaysReferenced:
    """A mark names its signal, invoice, period, price and outcome definition by plain
    columns (a database key would be checked once per mark inserted). Each of those rows
    is kept all the same: signals are never deleted (a trigger on PostgreSQL), the others
    are referenced by keys elsewhere (invoice lines, invoices, prices), and the ORM
    protects them too. Neither the ORM nor raw SQL deletes what was billed."""

    @pytest.fixture
    def billed(self):
        from billing.services import period_close
        from tests.billing_helpers import World

        w = World(unit_price=Decimal(1))
        signal = w.signal()
        invoice = period_close(period_id=w.period().pk)
        return {
            "agents_signal": signal.pk,
            "billing_invoice": invoice.pk,
            "billing_billingperiod": invoice.period_id,
            "billing_price": w.price.pk,
            "billing_outcomedefinition": w.outcome.pk,
        }

    @pytest.mark.parametrize(
        "table",
        ["billing_invoice", "billing_billingperiod", "billing_price", "billing_outcomedefinition"],
    )
    def test_raw_delete_refused(self, billed, table):
        def delete():
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {table} WHERE id = %s", [billed[table]])
            connection.check_constraints()  # the deferred keys, checked now

        refused(delete)

    def test_signals_are_never_deleted_on_postgresql(self, billed, on_postgres):
        unbilled = f.SignalFactory()
        for pk in (billed["agents_signal"], unbilled.pk):
            with (
                pytest.raises(IntegrityError, match="never deleted"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute("DELETE FROM agents_signal WHERE id = %s", [pk])
        assert Signal.objects.filter(pk__in=[billed["agents_signal"], unbilled.pk]).count() == 2

    @pytest.mark.parametrize(
        ("model", "key"),
        [
            (Signal, "agents_signal"),
            (Price, "billing_price"),
            (OutcomeDefinition, "billing_outcomedefinition"),
        ],
    )
    def test_orm_delete_refused(self, billed, model, key):
        with pytest.raises(ProtectedError):
            model.objects.get(pk=billed[key]).delete()
