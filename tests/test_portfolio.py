"""A portfolio change (an outcome +10%, tiers instead, a minimum) over every agreement
it concerns, figures computed by hand; sorted by impact, flagged over a threshold;
matching nothing says so; scheduled as each agreement's next version, all or none."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from billing.models import AgreementVersion, Price, PriceAgreement
from billing.periods import periods_create
from billing.portfolio import (
    Kind,
    PortfolioChange,
    agreements_concerned,
    portfolio_schedule,
    portfolio_simulate,
    portfolio_totals,
)
from billing.services import period_close
from customers.errors import ConflictError
from tests import factories as f

pytestmark = pytest.mark.django_db

JAN_10 = datetime(2026, 1, 10, tzinfo=UTC)
RANGE = {
    "starts_from": datetime(2026, 1, 1, tzinfo=UTC),
    "ends_by": datetime(2026, 2, 1, tzinfo=UTC),
}
NOW = datetime(2026, 2, 10, tzinfo=UTC)


def outcome(agent, event):
    definition = f.OutcomeDefinitionFactory(agent=agent, event_name=event, name=event.title())
    f.OutcomeCriterionFactory(definition=definition, field_path="status", value="ok")
    return definition


def customer(name, definition, unit_price, signals, close=True):
    agreement = f.PriceAgreementFactory(
        customer=f.CustomerFactory(name=name), name=f"{name} deal", starts_on=date(2026, 1, 1)
    )
    f.PriceFactory(agreement=agreement, outcome_definition=definition, unit_price=unit_price)
    periods_create(agreement=agreement, until=NOW)
    for _ in range(signals):
        f.SignalFactory(
            agent=definition.agent,
            customer=agreement.customer,
            event_name=definition.event_name,
            occurred_at=JAN_10,
            data={"status": "ok"},
        )
    if close:
        period = agreement.periods.get(starts_at__month=1)
        period_close(period_id=period.pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    return agreement


@pytest.fixture
def book():
    agent = f.AgentFactory()
    x, y = outcome(agent, "extracted"), outcome(agent, "triaged")
    return {
        "x": x,
        "y": y,
        "a": customer("Acme", x, D("5.00"), 3),  # 15.00
        "b": customer("Beta", x, D("2.00"), 10),  # 20.00
        "c": customer("Cyan", y, D("1.00"), 1),  # 1.00, another outcome
        "d": customer("Dune", x, D("3.00"), 0, close=False),  # nothing closed
    }


def figures(impacts):
    return [
        (i.agreement.customer.name, i.actual.revenue, i.simulated.revenue, i.change_percent)
        for i in impacts
    ]


def test_ten_percent_on_an_outcome_sorted_by_impact_and_flagged(book):
    change = PortfolioChange(kind=Kind.PERCENT, outcome=book["x"], percent=D("10"))
    impacts = portfolio_simulate(change, **RANGE)
    assert figures(impacts) == [
        ("Beta", D("20.00"), D("22.00"), D("10.00")),
        ("Acme", D("15.00"), D("16.50"), D("10.00")),
    ]
    assert [i.flagged(D("5")) for i in impacts] == [True, True]
    assert [i.flagged(D("10")) for i in impacts] == [False, False]
    total = portfolio_totals(impacts)["USD"]
    assert (total.actual.revenue, total.simulated.revenue, total.periods) == (
        D("35.00"),
        D("38.50"),
        2,
    )


def test_graduated_tiers_instead_of_a_unit_price(book):
    tiers = [(D(0), D(5), D("2.00")), (D(5), None, D("1.00"))]
    change = PortfolioChange(kind=Kind.TIERS, outcome=book["x"], tiers=tiers)
    # Acme: 3 x 2.00 = 6.00; Beta: 5 x 2.00 + 5 x 1.00 = 15.00
    assert figures(portfolio_simulate(change, **RANGE)) == [
        ("Acme", D("15.00"), D("6.00"), D("-60.00")),
        ("Beta", D("20.00"), D("15.00"), D("-25.00")),
    ]


def test_a_minimum_for_every_agreement_in_a_currency(book):
    change = PortfolioChange(kind=Kind.MINIMUM, amount=D("30"), currency="USD")
    assert figures(portfolio_simulate(change, **RANGE)) == [
        ("Cyan", D("1.00"), D("30.00"), D("2900.00")),
        ("Acme", D("15.00"), D("30.00"), D("100.00")),
        ("Beta", D("20.00"), D("30.00"), D("50.00")),
    ]


def test_a_change_matching_nothing_or_badly_given(book):
    z = outcome(f.AgentFactory(), "unused")
    change = PortfolioChange(kind=Kind.PERCENT, outcome=z, percent=D("10"))
    assert agreements_concerned(change) == []
    assert portfolio_simulate(change, **RANGE) == []
    gap = [(D(0), D(5), D("2")), (D(6), None, D("1"))]
    assert "tiers" in PortfolioChange(kind=Kind.TIERS, outcome=book["x"], tiers=gap).problems()
    assert PortfolioChange(kind=Kind.PERCENT, outcome=book["x"], percent=D(-100)).problems() == {
        "percent": "Give a change above -100%, e.g. 10 for +10%."
    }
    assert "currency" in PortfolioChange(kind=Kind.MINIMUM, amount=D(1)).problems()


def test_scheduled_for_the_chosen_agreements_all_or_none(book):
    change = PortfolioChange(kind=Kind.PERCENT, outcome=book["x"], percent=D("10"))
    with pytest.raises(ConflictError, match="Dune, “Dune deal”: Nothing was invoiced"):
        portfolio_schedule(change, agreement_ids=[book["a"].pk, book["d"].pk], now=NOW)
    assert not AgreementVersion.objects.exists()
    versions = portfolio_schedule(
        change, agreement_ids=[book["a"].pk, book["b"].pk], now=NOW, on_or_after=date(2026, 4, 1)
    )
    assert [(v.agreement.customer.name, v.number, v.effective_from) for v in versions] == [
        ("Acme", 2, datetime(2026, 4, 1, tzinfo=UTC)),
        ("Beta", 2, datetime(2026, 4, 1, tzinfo=UTC)),
    ]
    assert {v.source for v in versions} == {"portfolio"}
    assert versions[0].note == "Extracted: prices +10%"
    assert Price.objects.get(agreement=book["a"]).unit_price == D("5.5")
    assert Price.objects.get(agreement=book["b"]).unit_price == D("2.2")
    assert PriceAgreement.objects.get(pk=book["c"].pk).versions.count() == 0
