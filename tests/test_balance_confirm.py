"""A stored balance none of whose inputs changed is confirmed by the refresh, not
recomputed: the API serves it as exact from the time it was confirmed. Any change to
what it was computed from (whatever made it: a bulk update bypasses the ORM's save), a
moment at which time alone changes it, or a cost-plus price makes the refresh compute
it again."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from agents.models import Signal
from billing.balance_inputs import inputs_digests, signal_counts
from billing.balance_refresh import balance_refresh, balances_confirm, balances_due
from billing.balances import balance_compute
from billing.disputes import dispute_open
from billing.models import (
    AgreementVersion,
    BillingPeriod,
    Budget,
    CreditGrant,
    CustomerBalance,
    OutcomeCriterion,
    OutcomeDefinition,
    Price,
    PriceAgreement,
    PriceTier,
)
from billing.services import period_close
from customers.models import Customer
from tests import factories as f
from tests.api_helpers import agent_key
from tests.balance_helpers import T0, balance_get
from tests.billing_helpers import JAN, World
from tests.credit_helpers import grant

pytestmark = pytest.mark.django_db
SECOND = timedelta(seconds=1)
FIGURES = (
    "granted",
    "used_closed",
    "used_open",
    "remaining",
    "spend_open",
    "overage_open",
    "spend_period",
    "period_starts_at",
    "period_ends_at",
    "grants",
    "valid_until",
)


def figures(balance) -> dict:
    return {name: getattr(balance, name) for name in FIGURES}


def stored() -> CustomerBalance:
    return CustomerBalance.objects.get()


def test_an_unchanged_balance_is_confirmed_and_served_as_exact_from_then(client):
    w = World(unit_price=D("10.00"))
    grant(w.customer, "50.00")
    w.signals(2)
    assert balance_refresh(now=T0) == 1
    # 21 s later it would pass the 30 s bound before the next run: nothing it was
    # computed from changed, so it is confirmed.
    assert balance_refresh(now=T0 + 21 * SECOND) == 1
    balance = stored()
    assert (balance.computed_at, balance.checked_at) == (T0, T0 + 21 * SECOND)
    fresh = balance_compute(Customer.objects.get(pk=w.customer.pk), now=T0 + 21 * SECOND)
    assert figures(balance) == figures(fresh)
    assert (balance.remaining, balance.valid_until) == (
        D("30.00"),
        datetime(2026, 2, 1, tzinfo=UTC),
    )
    # 40 s after it was computed, the endpoint serves it, 19 s old (without the
    # confirmation it would be computed inline: age 0).
    auth = f"Bearer {agent_key(w.agent)}"
    body = balance_get(client, w.customer.external_id, at=T0 + 40 * SECOND, auth=auth).json()
    assert (body["remaining"], body["age_seconds"]) == ("30.00", 19.0)
    assert body["as_of"] == (T0 + 21 * SECOND).isoformat()


def test_a_change_found_at_confirmation_is_recomputed_with_its_figures():
    w = World(unit_price=D("10.00"))
    w.signals(2)
    balance_refresh(now=T0)
    assert stored().spend_open == D("20.00")
    Price.objects.filter(pk=w.price.pk).update(unit_price=D("12.00"))  # no save(): no signal
    assert balance_refresh(now=T0 + 21 * SECOND) == 1
    balance = stored()
    assert (balance.computed_at, balance.spend_open) == (T0 + 21 * SECOND, D("24.00"))


def test_a_signal_attached_later_below_the_watermark_is_counted():
    """The watermark (the highest id) does not move; the count does."""
    w = World(unit_price=D("10.00"))
    orphan = f.SignalFactory(
        agent=w.agent, customer=None, event_name="done", occurred_at=JAN, data={"status": "ok"}
    )
    w.signals(1)
    balance_refresh(now=T0)
    Signal.objects.filter(pk=orphan.pk).update(customer=w.customer)
    assert balance_refresh(now=T0 + 21 * SECOND) == 1
    balance = stored()
    assert (balance.computed_at, balance.spend_open) == (T0 + 21 * SECOND, D("20.00"))
    assert balance.signals_count == 2


def _version(w):
    AgreementVersion.objects.create(
        agreement=w.agreement,
        number=1,
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        terms={"prices": {}},
        source="admin",
    )


def _dispute(w):
    signal = w.signal()
    dispute_open(customer_id=w.customer.pk, signal_ids=[signal.pk], reason="not ours")


# Each thing a balance is computed from, changed without the ORM's save where it can be.
CHANGES = {
    "a signal": lambda w: w.signal(),
    "a price": lambda w: Price.objects.filter(pk=w.price.pk).update(unit_price=D("11.00")),
    "a tier": lambda w: PriceTier.objects.create(
        price=w.price, from_quantity=0, up_to_quantity=None, unit_price=D("1.00")
    ),
    "the agreement": lambda w: PriceAgreement.objects.filter(pk=w.agreement.pk).update(
        ends_on=date(2026, 6, 30)
    ),
    "a version": _version,
    "a period closed": lambda w: BillingPeriod.objects.filter(agreement=w.agreement).update(
        state=BillingPeriod.State.CLOSED
    ),
    "a grant's remainder": lambda w: CreditGrant.objects.filter(customer=w.customer).update(
        remaining=D("1.00")
    ),
    "a new grant": lambda w: grant(w.customer, "5.00"),
    "a dispute": _dispute,
    "the budget": lambda w: Budget.objects.filter(customer=w.customer).update(amount=D("9.00")),
    "the customer": lambda w: Customer.objects.filter(pk=w.customer.pk).update(currency="EUR"),
    "the outcome's partial rule": lambda w: OutcomeDefinition.objects.filter(
        pk=w.outcome.pk
    ).update(partial_rule="fixed", partial_fraction=D("0.5")),
    "a criterion": lambda w: OutcomeCriterion.objects.filter(definition=w.outcome).update(
        value="done"
    ),
    "a tax rate": lambda w: f.TaxRateFactory(),
}


@pytest.mark.parametrize("change", CHANGES)
def test_every_input_changes_the_digest_or_the_count(change):
    w = World(unit_price=D("10.00"))
    grant(w.customer, "50.00")
    Budget.objects.create(customer=w.customer, amount=D("100.00"))
    w.signals(1)
    pk = w.customer.pk
    before = (signal_counts([pk]).get(pk), inputs_digests([pk])[pk])
    CHANGES[change](w)
    assert (signal_counts([pk]).get(pk), inputs_digests([pk])[pk]) != before


def test_another_customers_change_leaves_the_digest_alone():
    w, other = World(unit_price=D("10.00")), World(unit_price=D("10.00"))
    before = inputs_digests([w.customer.pk])
    grant(other.customer, "5.00")
    Price.objects.filter(pk=other.price.pk).update(unit_price=D("11.00"))
    other.signals(3)
    assert inputs_digests([w.customer.pk]) == before


def test_a_grant_expiring_makes_it_due_for_a_recomputation():
    w = World(unit_price=D("10.00"))
    grant(w.customer, "50.00", expires_at=T0 + 25 * SECOND)
    balance_refresh(now=T0)
    assert (stored().valid_until, stored().granted) == (T0 + 25 * SECOND, D("50.00"))
    balance_refresh(now=T0 + 21 * SECOND)  # before the expiry: confirmed
    assert stored().computed_at == T0
    balance_refresh(now=T0 + 42 * SECOND)  # after it: computed again
    assert (stored().computed_at, stored().granted) == (T0 + 42 * SECOND, D("0.00"))


def test_a_period_ending_makes_it_due_for_a_recomputation():
    w = World(unit_price=D("10.00"))
    w.signals(1)
    february = datetime(2026, 2, 1, tzinfo=UTC)
    balance_refresh(now=february - 5 * SECOND)
    assert stored().valid_until == february
    balance_refresh(now=february + 16 * SECOND)
    balance = stored()
    assert balance.computed_at == february + 16 * SECOND
    # January waits for its close; February is the current period.
    assert (balance.period_starts_at, balance.spend_open) == (february, D("10.00"))


def test_a_passed_valid_until_makes_it_due_at_once():
    w = World(unit_price=D("10.00"))
    february = datetime(2026, 2, 1, tzinfo=UTC)
    balance_refresh(now=february - 5 * SECOND)
    due = balances_due(now=february + SECOND)  # 6 s old: not stale, but no longer valid
    assert [(d.customer_id, d.checkable) for d in due] == [(w.customer.pk, False)]
    assert balances_due(now=february - SECOND) == []


def test_a_current_period_closed_early_still_ends_its_validity():
    w = World(unit_price=D("10.00"))
    w.signals(1)
    period_close(period_id=w.period(1).pk, now=T0)  # the admin's "Close now"
    balance_refresh(now=T0 + SECOND)
    balance = stored()
    assert (balance.spend_open, balance.valid_until) == (
        D("0.00"),
        datetime(2026, 2, 1, tzinfo=UTC),
    )


def test_a_balance_computed_on_a_boundary_is_computed_again():
    World(unit_price=D("10.00"))
    february = datetime(2026, 2, 1, tzinfo=UTC)
    balance_refresh(now=february)
    assert stored().valid_until == february
    assert [d.checkable for d in balances_due(now=february + SECOND)] == [False]


def test_a_per_workflow_customer_is_always_recomputed():
    """Another customer's close can count a workflow this one's outcome was in."""
    w = World(unit_price=D("10.00"), per_workflow=True)
    w.signal(workflow="wf-1")
    balance_refresh(now=T0)
    assert stored().inputs_digest == ""
    balance_refresh(now=T0 + 21 * SECOND)
    assert stored().computed_at == T0 + 21 * SECOND


def test_an_agreement_starting_later_makes_it_due_when_it_starts():
    customer = f.CustomerFactory()
    f.PriceAgreementFactory(
        customer=customer, currency=customer.currency, starts_on=date(2026, 3, 1)
    )
    balance_refresh(now=T0)
    assert (stored().valid_until, stored().period_starts_at) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        None,
    )


def test_a_cost_plus_customer_is_always_recomputed():
    w = World(model="cost_plus", markup_percent=D(30), unit_price=None)
    w.signals(1)
    balance_refresh(now=T0)
    assert stored().inputs_digest == ""
    balance_refresh(now=T0 + 21 * SECOND)
    assert stored().computed_at == T0 + 21 * SECOND


def test_a_confirmation_never_ages_a_balance_computed_meanwhile():
    """A run that found the inputs unchanged does not move back the check time of a
    balance another run stored after it began."""
    w = World(unit_price=D("10.00"))
    w.signals(1)
    balance_refresh(now=T0)
    due = balances_due(now=T0 + 21 * SECOND)
    assert [d.checkable for d in due] == [True]
    balance_refresh(now=T0 + 25 * SECOND)  # another run, later: confirms at +25 s
    assert balances_confirm(due, now=T0 + 21 * SECOND) == {w.customer.pk}
    assert stored().checked_at == T0 + 25 * SECOND
