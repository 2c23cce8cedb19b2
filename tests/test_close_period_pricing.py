"""Hand-computed invoices for every pricing model and partial rule."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from billing.models import InvoiceLine
from billing.services import ClosingError, period_close
from tests import factories as f
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


def close(world, month=1):
    return period_close(period_id=world.period(month).pk)


def lines(invoice, kind=None):
    qs = invoice.lines.all()
    return [line for line in qs if kind is None or line.kind == kind]


def test_per_outcome_with_fixed_partials_included_quantity_and_platform_fee():
    w = World(
        unit_price=D("2.50"),
        included_quantity=D(3),
        partial_rule="fixed",
        agreement_kwargs={"platform_fee": D("100")},
    )
    w.signals(10)
    w.signals(5, status="partial")
    w.signals(4, status="broken")  # failures: never charged
    invoice = close(w)
    outcome = lines(invoice, "outcome")[0]
    # 10 + 5 x 0.4 = 12, less 3 included = 9 x 2.50
    assert (outcome.successes, outcome.partials, outcome.quantity) == (10, 5, D(9))
    assert outcome.amount == D("22.50")
    assert lines(invoice, "platform_fee")[0].amount == D("100.00")
    assert invoice.total == D("122.50") and invoice.sequence == 1


def test_partials_not_charged_under_rule_none():
    w = World(unit_price=D(1))
    w.signals(2)
    w.signals(3, status="partial")
    assert lines(close(w), "outcome")[0].amount == D("2.00")


def test_graduated_tiers_with_a_fractional_ratio_partial():
    w = World(
        model="graduated", partial_rule="ratio", tiers=[(0, 10, D("1.00")), (10, None, D("0.50"))]
    )
    w.signals(10)
    w.signal("partial", done=1, total=4)  # 0.25
    w.signal("partial", done=3, total=0)  # zero denominator: a failure
    w.signal("partial", done=9, total=3)  # clamped to 1
    outcome = lines(close(w), "outcome")[0]
    # 11.25 units: 10 x 1.00 + 1.25 x 0.50 = 10.625 -> 10.63 (half up)
    assert outcome.quantity == D("11.25") and outcome.partials == 2
    assert outcome.amount == D("10.63")


@pytest.mark.parametrize(
    ("n", "expected"), [(9, "9.00"), (10, "10.00"), (11, "5.50"), (15, "7.50")]
)
def test_volume_tiers_at_the_boundary(n, expected):
    """Up to 10 @ 1.00, above @ 0.50: the 10th outcome is still in the first tier."""
    w = World(model="volume", tiers=[(0, 10, D("1.00")), (10, None, D("0.50"))])
    w.signals(n)
    assert lines(close(w), "outcome")[0].amount == D(expected)


@pytest.mark.parametrize(("n", "expected"), [(10, "10.00"), (11, "10.50"), (0, "0.00")])
def test_graduated_tier_boundary(n, expected):
    w = World(model="graduated", tiers=[(0, 10, D("1.00")), (10, None, D("0.50"))])
    w.signals(n)
    assert lines(close(w), "outcome")[0].amount == D(expected)


def test_percent_of_value_with_a_missing_value_and_weighted_partial():
    w = World(
        model="percent_of_value",
        percent_of_value=D(8),
        value_field="recovered",
        unit_price=None,
        partial_rule="fixed",
    )
    w.signal(recovered=100)
    w.signal(recovered=250.50)
    w.signal()  # no recovered value: charged 0, said on the line
    w.signal("partial", recovered=1000)  # weighted by 0.4
    outcome = lines(close(w), "outcome")[0]
    # 8% of (100 + 250.50 + 400) = 60.04
    assert outcome.amount == D("60.04")
    assert "1 without a numeric recovered" in outcome.description


def test_cost_plus_converts_costs_and_refuses_without_a_rate():
    w = World(model="cost_plus", markup_percent=D(30), unit_price=None)
    s1, s2 = w.signal(), w.signal()
    f.CostFactory(agent=w.agent, customer=w.customer, signal=s1, amount=D("1.00"))
    f.CostFactory(agent=w.agent, customer=w.customer, signal=s2, amount=D("0.50"), source_key="x")
    f.CostFactory(
        agent=w.agent,
        customer=w.customer,
        signal=s2,
        amount=D("2.00"),
        currency="EUR",
        source_key="y",
    )
    failed = w.signal("broken")
    f.CostFactory(agent=w.agent, customer=w.customer, signal=failed, amount=D("9"))
    with pytest.raises(ClosingError, match="No exchange rate EUR→USD"):
        close(w)
    assert not w.period().invoices.exists()
    f.ExchangeRateFactory(
        base_currency="EUR", quote_currency="USD", rate=D("1.10"), effective_on=date(2025, 12, 1)
    )
    # (1.00 + 0.50 + 2.00 x 1.10) x 1.30 = 4.81; the failure's cost is not billed
    assert lines(close(w), "outcome")[0].amount == D("4.81")


def test_per_workflow_counts_once_and_attributes_every_workflow_cost():
    w = World(model="cost_plus", markup_percent=D(0), unit_price=None, per_workflow=True)
    first = w.signal(workflow="wf-1")
    w.signal(workflow="wf-1")  # the same workflow completes again: not counted
    w.signal(workflow="wf-2")
    other_agent = f.AgentFactory()
    step = f.SignalFactory(
        agent=other_agent,
        customer=w.customer,
        event_name="step",
        occurred_at=first.occurred_at,
        workflow_id="wf-1",
    )
    f.CostFactory(
        agent=other_agent, customer=w.customer, signal=step, workflow_id="wf-1", amount=D("3.00")
    )
    f.CostFactory(
        agent=w.agent, customer=w.customer, signal=first, workflow_id="wf-1", amount=D("1.00")
    )
    outcome = lines(close(w), "outcome")[0]
    assert outcome.successes == 2  # wf-1 once, wf-2 once
    assert outcome.amount == D("4.00")
    # ever: a later success of wf-1 is not counted in February either
    w.signal(workflow="wf-1", at=datetime(2026, 2, 3, tzinfo=UTC))
    from billing.periods import periods_create

    periods_create(agreement=w.agreement, until=datetime(2026, 3, 5, tzinfo=UTC))
    assert lines(close(w, month=2), "outcome")[0].successes == 0


def test_minimum_commitment_true_up_and_spend_cap_discount():
    low = World(unit_price=D(1), agreement_kwargs={"minimum_commitment": D(50)})
    low.signals(20)
    invoice = close(low)
    assert lines(invoice, "minimum_true_up")[0].amount == D("30.00")
    assert invoice.total == D("50.00")
    high = World(unit_price=D(10), agreement_kwargs={"spend_cap": D(100)})
    high.signals(25)
    invoice = close(high)
    assert lines(invoice, "cap_discount")[0].amount == D("-150.00")
    assert invoice.total == D("100.00")


@pytest.mark.parametrize(
    ("currency", "unit", "n", "expected"),
    [
        ("JPY", D("33.3"), 3, D("100")),
        ("USD", D("0.333"), 3, D("1.00")),
        ("KWD", D("0.0005"), 1, D("0.001")),
        ("USD", D("0.005"), 1, D("0.01")),
    ],
)
def test_lines_rounded_half_up_to_the_minor_unit(currency, unit, n, expected):
    w = World(currency=currency, unit_price=unit)
    w.signals(n)
    invoice = close(w)
    assert lines(invoice, "outcome")[0].amount == expected and invoice.currency == currency


def test_platform_fee_and_minimum_prorated_when_the_agreement_ends_inside_a_period():
    w = World(
        unit_price=D(1),
        agreement_kwargs={
            "platform_fee": D("310"),
            "minimum_commitment": D("31"),
            "ends_on": date(2026, 1, 10),
        },
    )
    invoice = close(w)
    period = w.period()
    assert period.ends_at == datetime(2026, 1, 11, tzinfo=UTC)
    # 10 of January's 31 days
    assert lines(invoice, "platform_fee")[0].amount == D("100.00")
    assert lines(invoice, "minimum_true_up")[0].amount == D("10.00")


def test_agreement_without_prices_bills_its_platform_fee():
    customer = f.CustomerFactory()
    agreement = f.PriceAgreementFactory(
        customer=customer, starts_on=date(2026, 1, 1), platform_fee=D("99")
    )
    from billing.periods import periods_create

    periods_create(agreement=agreement, until=datetime(2026, 2, 5, tzinfo=UTC))
    invoice = period_close(period_id=agreement.periods.first().pk)
    assert [line.kind for line in lines(invoice)] == [InvoiceLine.Kind.PLATFORM_FEE]
    assert invoice.total == D("99.00")


def test_price_whose_outcome_has_no_signals_closes_with_a_zero_line():
    w = World(unit_price=D(5))
    invoice = close(w)
    assert lines(invoice, "outcome")[0].amount == D("0.00") and invoice.total == D("0.00")


def test_currency_mismatch_refused_with_a_message():
    w = World(unit_price=D(1))
    w.customer.currency = "EUR"
    w.customer.save()
    with pytest.raises(ClosingError, match="make them the same"):
        close(w)
    assert not w.period().invoices.exists()
