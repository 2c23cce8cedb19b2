"""The pricing lab's engine (billing/simulations.py): identity on issued invoices,
hand-computed changes, refused proposals, and a database left exactly as it was."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import Max

from billing.models import AgreementVersion, Invoice, PriceAgreement
from billing.periods import periods_create
from billing.services import invoice_void_and_reissue, period_close
from billing.simulated_partials import NOT_CHARGED, Ratio
from billing.simulations import agreement_simulate, periods_closed
from tests import factories as f
from tests.balance_helpers import clock
from tests.billing_helpers import World
from tests.credit_helpers import grant

pytestmark = pytest.mark.django_db

FEB = datetime(2026, 2, 10, 12, tzinfo=UTC)
MAR = datetime(2026, 3, 5, tzinfo=UTC)


def database_state() -> dict:
    """Row count and highest id of every table."""
    state = {}
    for model in apps.get_models():
        rows = model._base_manager.all()
        state[model._meta.label] = (rows.count(), rows.aggregate(top=Max("pk"))["top"])
    return state


def stored_lines(invoice: Invoice) -> list[tuple]:
    return [
        (
            line.kind,
            line.description,
            line.quantity,
            line.amount,
            line.price_id,
            line.adjusted_period_id,
            line.credit_grant_id,
        )
        for line in invoice.lines.order_by("position")
    ]


def draft_lines(draft) -> list[tuple]:
    return [
        (
            line.kind,
            line.description,
            line.quantity,
            line.amount,
            line.price_id,
            line.adjusted_period_id,
            line.credit_grant_id,
        )
        for line in draft.lines
    ]


def assert_reproduced(agreement: PriceAgreement) -> int:
    """Simulating the agreement unchanged gives every live invoice back exactly."""
    simulation = agreement_simulate(agreement=agreement, periods=periods_closed(agreement))
    for result in simulation.periods:
        invoice, draft = result.invoice, simulation.drafts[result.invoice.pk]
        assert draft_lines(draft) == stored_lines(invoice), invoice
        assert (draft.net, draft.tax, draft.total) == (invoice.net, invoice.tax, invoice.total)
        assert result.simulated.revenue == result.actual.revenue
        assert result.simulated.costs == result.actual.costs
    return len(simulation.periods)


def test_every_demo_invoice_is_reproduced_and_nothing_is_written():
    call_command("seed_demo", signals=800)
    call_command("close_periods")
    agreements = list(PriceAgreement.objects.all())
    before = database_state()
    simulated = sum(assert_reproduced(agreement) for agreement in agreements)
    assert database_state() == before
    assert simulated == Invoice.objects.exclude(status="void").count() > 0


def test_late_signals_credits_and_a_reissue_are_reproduced():
    w = World(unit_price=D("2.00"), agreement_kwargs={"platform_fee": D("10")})
    grant(w.customer, 30)
    w.signals(10)  # January: 20.00 of outcomes + 10.00 fee, 30.00 of credits
    period_close(period_id=w.period().pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    w.signals(3)  # late January signals, billed in February
    w.signals(5, at=FEB)
    from billing.periods import periods_create

    periods_create(agreement=w.agreement, until=MAR)
    feb = period_close(period_id=w.period(2).pk, now=MAR)
    assert feb.lines.filter(kind="adjustment").exists()
    jan = Invoice.objects.get(period=w.period(), status="issued")
    invoice_void_and_reissue(invoice_id=jan.pk, reason="Wrong address")
    assert assert_reproduced(w.agreement) == 2


def test_per_outcome_to_graduated_and_volume_by_hand():
    """12 successes and 2 partials at 0.4 (12.8 units) at 1.00 = 12.80. Proposed
    tiers up to 10 @ 1.00, above @ 0.50: graduated 10 + 2.8 x 0.50 = 11.40; volume
    12.8 x 0.50 = 6.40; a spend cap of 8 cuts the graduated total to 8.00."""
    w = World(unit_price=D("1.00"), partial_rule="fixed")
    w.signals(12)
    w.signals(2, status="partial")
    period_close(period_id=w.period().pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    tiers = [(D(0), D(10), D("1.00")), (D(10), None, D("0.50"))]
    periods = periods_closed(w.agreement)

    def revenue(agreement_changes=None, **change):
        simulation = agreement_simulate(
            agreement=w.agreement,
            periods=periods,
            agreement_changes=agreement_changes,
            price_changes={w.price.pk: change},
        )
        (result,) = simulation.periods
        assert result.actual.revenue == D("12.80")
        return result.simulated.revenue

    assert revenue(model="graduated", unit_price=None, tiers=tiers) == D("11.40")
    assert revenue(model="volume", unit_price=None, tiers=tiers) == D("6.40")
    capped = revenue({"spend_cap": D(8)}, model="graduated", unit_price=None, tiers=tiers)
    assert capped == D("8.00")
    assert revenue(unit_price=D("1.10")) == D("14.08")  # +10%


def test_a_proposal_the_agreement_would_refuse_names_what_to_fix():
    w = World(unit_price=D("1.00"))
    w.signals(2)
    period_close(period_id=w.period().pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    periods = periods_closed(w.agreement)
    name = w.outcome.name
    cases = [
        ({"unit_price": D("-1")}, f"{name}: unit_price"),
        (
            {"model": "graduated", "tiers": [(D(0), D(10), D(1)), (D(12), None, D(1))]},
            f"{name}: tier 2 from_quantity",
        ),
        ({"model": "volume", "tiers": []}, f"{name}: tier 1 tiers"),
        ({"colour": "red"}, "colour"),
    ]
    for change, field in cases:
        with pytest.raises(ValidationError) as refused:
            agreement_simulate(
                agreement=w.agreement, periods=periods, price_changes={w.price.pk: change}
            )
        assert field in refused.value.message_dict, refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        agreement_simulate(
            agreement=w.agreement, periods=periods, agreement_changes={"platform_fee": D(-5)}
        )
    assert "platform_fee" in refused.value.message_dict


def test_a_range_without_closed_periods_is_empty():
    w = World(unit_price=D("1.00"))
    assert periods_closed(w.agreement) == []
    assert periods_closed(w.agreement, starts_from=datetime.now(UTC) + timedelta(days=1)) == []


def test_a_partial_rule_changed_by_hand():
    """January: 12 successes and 2 partials at 0.4 at 1.00 = 12.80; then 1 late partial
    billed in February (adjustment 0.40) with 3 February successes (3.00). Partials at
    0.5: January 13.00 (+0.20), the late one 0.50; partials not charged: 12.00, late 0."""
    w = World(unit_price=D("1.00"), partial_rule="fixed")
    w.signals(12)
    w.signals(2, status="partial")
    period_close(period_id=w.period().pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    w.signal(status="partial")  # late January
    w.signals(3, at=FEB)
    from billing.periods import periods_create

    periods_create(agreement=w.agreement, until=MAR)
    period_close(period_id=w.period(2).pk, now=MAR)
    periods = periods_closed(w.agreement)

    def figures(fraction):
        simulation = agreement_simulate(
            agreement=w.agreement, periods=periods, partial_fractions={w.outcome.pk: fraction}
        )
        return [(p.actual.revenue, p.simulated.revenue) for p in simulation.periods]

    # January's revenue counts its late partial, billed on February's invoice.
    assert figures(D("0.4")) == [(D("13.20"), D("13.20")), (D("3.00"), D("3.00"))]
    assert figures(D("0.5")) == [(D("13.20"), D("13.50")), (D("3.00"), D("3.00"))]
    assert figures(NOT_CHARGED) == [(D("13.20"), D("12.00")), (D("3.00"), D("3.00"))]
    # A fixed fraction of 0 counts the partials, at nothing: the same revenue.
    assert figures(D(0)) == [(D("13.20"), D("12.00")), (D("3.00"), D("3.00"))]
    with pytest.raises(ValidationError, match="Give a fraction from 0 to 1"):
        figures(D("1.5"))


def test_an_invoice_issued_before_versions_is_replayed_under_the_prices_it_had():
    """January closed at 1.00 a unit with tiers up to 2 @ 1.00, above @ 0.50 (3 units:
    2.50); then, before agreements had versions, the tiers and fee were edited in place
    (saved, as the admin did): above @ 0.80 and a 5.00 fee. February, closed after, bills
    at them; replayed unchanged, both come back as issued."""
    jan_close, edit, feb_close = (datetime(2026, 2, 2, tzinfo=UTC), FEB, MAR)
    with clock(datetime(2026, 1, 1, tzinfo=UTC)):
        w = World(model="graduated", tiers=[(0, 2, D("1.00")), (2, None, D("0.50"))])
    w.signals(3)
    with clock(jan_close):
        january = period_close(period_id=w.period().pk, now=jan_close)
    with clock(edit):
        tier = w.price.tiers.get(up_to_quantity=None)
        tier.unit_price = D("0.80")
        tier.save()
        w.agreement.platform_fee = D("5.00")
        w.agreement.save()
    w.signals(3, at=FEB)
    periods_create(agreement=w.agreement, until=MAR)
    with clock(feb_close):
        february = period_close(period_id=w.period(2).pk, now=feb_close)
    assert (january.total, february.total) == (D("2.50"), D("7.80"))
    assert AgreementVersion.objects.count() == 0
    assert assert_reproduced(w.agreement) == 2


def test_an_invoice_is_replayed_with_the_tax_rates_it_was_issued_with():
    """January taxed at the customer's 20%: 30.00 + 6.00. Since, the customer moved to
    10% and the agreement got its own 5% (neither is a term of a version): replayed
    unchanged, January comes back at 20%; a proposed price is taxed at 20%, and so is a
    proposed platform fee, which January did not have (the rate it would have had)."""
    with clock(datetime(2026, 1, 1, tzinfo=UTC)):
        w = World(unit_price=D("10.00"))
        w.customer.tax_rate = f.TaxRateFactory()
        w.customer.save()
    w.signals(3)
    issued = datetime(2026, 2, 2, tzinfo=UTC)
    with clock(issued):
        invoice = period_close(period_id=w.period().pk, now=issued)
    assert (invoice.net, invoice.tax) == (D("30.00"), D("6.00"))
    with clock(FEB):
        w.customer.tax_rate = f.TaxRateFactory(name="VAT 10%", percent=D("10"))
        w.customer.save()
        w.agreement.tax_rate = f.TaxRateFactory(name="VAT 5%", percent=D("5"))
        w.agreement.save()
    assert assert_reproduced(w.agreement) == 1
    simulation = agreement_simulate(
        agreement=w.agreement,
        periods=periods_closed(w.agreement),
        agreement_changes={"platform_fee": D("10.00")},
        price_changes={w.price.pk: {"unit_price": D("20.00")}},
    )
    [draft] = simulation.drafts.values()
    assert (draft.net, draft.tax) == (D("70.00"), D("14.00"))


def test_a_switch_to_a_ratio_rule_bills_what_a_close_under_it_bills():
    """January at 10.00: 2 successes, and partials of done/total 1/4, 3/4, 6/4 (kept at
    1), and three a ratio makes failures: no fields, a denominator of 0, no numerator.
    Partials not charged: 20.00. As the ratio
    done/total: 20.00 + 2.50 + 7.50 + 10.00 = 40.00, what the same signals closed under
    that rule bill."""
    partials = [{"done": 1, "total": 4}, {"done": 3, "total": 4}, {"done": 6, "total": 4}, {}]
    partials += [{"done": 1, "total": 0}, {"total": 4}]  # failures under the ratio

    def january(w):
        w.signals(2)
        for data in partials:
            w.signal(status="partial", **data)
        return period_close(period_id=w.period().pk, now=datetime(2026, 2, 2, tzinfo=UTC))

    w = World(unit_price=D("10.00"))
    january(w)
    simulation = agreement_simulate(
        agreement=w.agreement,
        periods=periods_closed(w.agreement),
        partial_fractions={w.outcome.pk: Ratio("done", "total")},
    )
    [period] = simulation.periods
    assert (period.actual.revenue, period.simulated.revenue) == (D("20.00"), D("40.00"))
    closed = january(World(unit_price=D("10.00"), partial_rule="ratio"))
    [draft] = simulation.drafts.values()
    assert [(x.kind, x.successes, x.partials, x.quantity, x.amount) for x in draft.lines] == [
        (x.kind, x.successes, x.partials, x.quantity, x.amount)
        for x in closed.lines.order_by("position")
    ]
    assert [x.partials for x in draft.lines] == [3]  # three read; the others failed
    with pytest.raises(ValidationError, match="Name the data fields"):
        agreement_simulate(
            agreement=w.agreement,
            periods=periods_closed(w.agreement),
            partial_fractions={w.outcome.pk: Ratio("done", "")},
        )


def test_a_per_workflow_outcomes_partial_rule_counts_each_workflow_as_a_close_would():
    """Per-workflow outcomes at 1.00, partials not charged. January: workflow a, a
    partial then a success; b, a partial; c, a success: 2.00 (a's success, c's).
    February: a success of a (counted in January) and one of b (not yet): 1.00.
    Partials at 0.4 instead: January counts a's partial (the first chargeable), b's and
    c's success, 1.80; February nothing (a and b counted in January), 0.00: what the
    same signals closed under that rule bill."""

    def close_both(w):
        w.signal(status="partial", workflow="a")
        w.signal(workflow="a")
        w.signal(status="partial", workflow="b")
        w.signal(workflow="c")
        january = period_close(period_id=w.period().pk, now=datetime(2026, 2, 2, tzinfo=UTC))
        w.signal(workflow="a", at=FEB)
        w.signal(workflow="b", at=FEB)
        periods_create(agreement=w.agreement, until=MAR)
        february = period_close(period_id=w.period(2).pk, now=MAR)
        return january, february

    w = World(unit_price=D("1.00"), per_workflow=True)
    assert [i.total for i in close_both(w)] == [D("2.00"), D("1.00")]
    simulation = agreement_simulate(
        agreement=w.agreement,
        periods=periods_closed(w.agreement),
        partial_fractions={w.outcome.pk: D("0.4")},
    )
    assert [(p.actual.revenue, p.simulated.revenue) for p in simulation.periods] == [
        (D("2.00"), D("1.80")),
        (D("1.00"), D("0.00")),
    ]
    # The same signals closed under that rule (another agent: workflows are per outcome
    # definition, so the first world's marks do not count for it).
    fixed = World(unit_price=D("1.00"), per_workflow=True, partial_rule="fixed")
    closed = close_both(fixed)
    assert [i.total for i in closed] == [D("1.80"), D("0.00")]
    for result, invoice in zip(simulation.periods, closed, strict=True):
        draft = simulation.drafts[result.invoice.pk]
        assert [(x.kind, x.successes, x.partials, x.amount) for x in draft.lines] == [
            (x.kind, x.successes, x.partials, x.amount) for x in invoice.lines.order_by("position")
        ]
    # Back to no partials from the fixed rule: the first world's invoices again.
    back = agreement_simulate(
        agreement=fixed.agreement,
        periods=periods_closed(fixed.agreement),
        partial_fractions={fixed.outcome.pk: NOT_CHARGED},
    )
    assert [p.simulated.revenue for p in back.periods] == [D("2.00"), D("1.00")]
