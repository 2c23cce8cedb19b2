"""Margin arithmetic by hand: revenue - cost = margin, cost of failures, allocation of
fees, per-workflow costs, FX and the incomplete flag, stored at close and live."""

import io
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from agents.models import Cost
from billing.models import BilledSignal, Invoice, MarginFigure
from billing.periods import periods_create_due, periods_due
from billing.services import invoice_preview, invoice_void_and_reissue, period_close
from tests import factories as f
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


def cost(world, signal, amount, currency="USD", category="llm", model="gpt-4o", key="k"):
    return f.CostFactory(
        agent=world.agent,
        customer=world.customer,
        signal=signal,
        amount=D(amount),
        currency=currency,
        category=category,
        model=model,
        source_key=key,
        workflow_id=signal.workflow_id,
    )


def test_margin_of_one_outcome_with_failures_and_a_platform_fee():
    w = World(
        unit_price=D("2.00"), agreement_kwargs={"platform_fee": D("10"), "margin_target": D("50")}
    )
    for s in w.signals(5):
        cost(w, s, "0.30")
        cost(w, s, "0.10", category="infrastructure", model="", key="i")
    for s in w.signals(2, status="broken"):
        cost(w, s, "0.25")
    period_close(period_id=w.period().pk)
    m = MarginFigure.objects.get()
    # revenue 5 x 2.00 + fee 10.00 (all allocated to the only outcome) = 20.00
    assert (m.revenue_outcomes, m.revenue_allocated, m.revenue) == (D(10), D(10), D(20))
    # cost 5 x 0.40 + 2 x 0.25 = 2.50, of which failures 0.50
    assert m.cost == D("2.50") and m.cost_of_failures == D("0.50")
    assert m.margin == D("17.50") and m.margin_percent == D("87.50")
    assert (m.successes, m.partials, m.failures) == (5, 0, 2)
    assert m.cost_by_category == {"llm": "2.00000000", "infrastructure": "0.50000000"}
    assert m.cost_by_model == {"gpt-4o": "2.00000000", "(none)": "0.50000000"}
    assert not m.below_target and not m.incomplete


def test_fees_allocated_in_proportion_to_outcome_revenue():
    w = World(unit_price=D(1), agreement_kwargs={"platform_fee": D("30")})
    other = f.OutcomeDefinitionFactory(agent=w.agent, event_name="other")
    f.PriceFactory(agreement=w.agreement, outcome_definition=other, unit_price=D(2))
    w.signals(1)
    f.SignalFactory(
        agent=w.agent, customer=w.customer, event_name="other", occurred_at=w.signal().occurred_at
    )
    period_close(period_id=w.period().pk)
    by_outcome = {m.outcome_definition_id: m for m in MarginFigure.objects.all()}
    # outcome revenue 2.00 (w) and 2.00 (other): 30 split 15 / 15
    assert by_outcome[w.outcome.pk].revenue_allocated == D(15)
    assert by_outcome[other.pk].revenue_allocated == D(15)
    assert sum(m.revenue for m in by_outcome.values()) == Invoice.objects.get().total


def test_per_workflow_outcome_carries_every_cost_of_its_workflow():
    w = World(unit_price=D(10), per_workflow=True)
    done = w.signal(workflow="wf-1")
    step_agent = f.AgentFactory()
    step = f.SignalFactory(
        agent=step_agent,
        customer=w.customer,
        event_name="step",
        occurred_at=done.occurred_at,
        workflow_id="wf-1",
    )
    f.CostFactory(
        agent=step_agent, customer=w.customer, signal=step, workflow_id="wf-1", amount=D("1.50")
    )
    cost(w, done, "0.50")
    period_close(period_id=w.period().pk)
    m = MarginFigure.objects.get()
    assert m.cost == D("2.00") and m.margin == D("8.00")


def test_costs_in_another_currency_converted_or_marked_incomplete():
    w = World(unit_price=D(10))
    s = w.signal()
    cost(w, s, "1.00", currency="EUR")
    period_close(period_id=w.period().pk)
    m = MarginFigure.objects.get()
    assert m.incomplete and "EUR→USD" in m.missing_rates and m.cost == 0
    assert Invoice.objects.get().total == D("10.00")  # never blocks the invoice
    f.ExchangeRateFactory(
        base_currency="EUR", quote_currency="USD", rate=D("1.2"), effective_on=date(2025, 12, 31)
    )
    replacement = invoice_void_and_reissue(invoice_id=Invoice.objects.get().pk, reason="fx")
    m = MarginFigure.objects.get()
    assert m.invoice == replacement and not m.incomplete and m.cost == D("1.20")


def test_below_target_flagged_and_live_figures_for_an_open_period():
    w = World(unit_price=D(1), agreement_kwargs={"margin_target": D(40)})
    for s in w.signals(2):
        cost(w, s, "0.80")
    draft = invoice_preview(period=w.period())
    live = draft.margins[0]
    assert live.margin == D("0.40") and live.margin_percent == D("20.00") and live.below_target
    assert not MarginFigure.objects.exists()


def test_demo_margins_recomputed_from_signals_and_costs():
    call_command("seed_demo", signals=3000, stdout=io.StringIO())
    periods_create_due(now=timezone.now())
    for period in periods_due(now=timezone.now()):
        period_close(period_id=period.pk)
    checked = 0
    for m in MarginFigure.objects.select_related("outcome_definition"):
        assert m.revenue - m.cost == m.margin
        if m.outcome_definition.per_workflow or m.incomplete:
            continue
        marks = BilledSignal.objects.filter(
            invoice=m.invoice, outcome_definition=m.outcome_definition
        )
        failed = Cost.objects.filter(signal__in=marks.filter(outcome="failure").values("signal"))
        own = Cost.objects.filter(signal__in=marks.values("signal"))
        same_currency = all(c == m.currency for c in own.values_list("currency", flat=True))
        if same_currency:
            assert m.cost_of_failures == (failed.aggregate(t=Sum("amount"))["t"] or 0)
            assert m.cost == (own.aggregate(t=Sum("amount"))["t"] or 0)
            checked += 1
    assert checked >= 5
    assert {m.agent.external_id for m in MarginFigure.objects.all()} == {
        "doc-extractor",
        "support-resolver",
        "collections-agent",
        "lead-qualifier",
    }
