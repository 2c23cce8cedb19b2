"""Agreement versions: prices change at a period boundary. A change saved mid-February
from March bills February at the old prices and March at the new; late signals are
adjusted at their own period's prices; refusals say what to fix and change nothing."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from billing.dispute_credits import dispute_credit_compute
from billing.models import AgreementVersion, InvoiceLine, Price
from billing.periods import periods_create
from billing.rating import prices_of
from billing.services import invoice_preview, period_close
from billing.simulations import agreement_simulate, periods_closed
from billing.version_changes import boundaries_open, version_schedule
from billing.versions import terms_read
from customers.errors import ConflictError
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db

FEB_10 = datetime(2026, 2, 10, tzinfo=UTC)
FEB_15 = datetime(2026, 2, 15, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, tzinfo=UTC)
MAR_15 = datetime(2026, 3, 15, tzinfo=UTC)
APR_1 = datetime(2026, 4, 1, tzinfo=UTC)
APR_5 = datetime(2026, 4, 5, tzinfo=UTC)


def terms(agreement, unit_price=None, fee=None):
    data = terms_read(agreement, prices_of(agreement))
    for price in data["prices"].values():
        if unit_price is not None:
            price["unit_price"] = str(unit_price)
    if fee is not None:
        data["platform_fee"] = str(fee)
    return data


def schedule(w, at=MAR_1, now=FEB_10, **changes):
    return version_schedule(
        agreement_id=w.agreement.pk,
        effective_from=at,
        terms=terms(w.agreement, **changes),
        source=AgreementVersion.Source.ADMIN,
        now=now,
    )


def lines(invoice):
    return sorted(
        (line.kind, line.description.split(":")[0], line.amount) for line in invoice.lines.all()
    )


def billed_january(n=3):
    w = World(unit_price=D("5.00"))
    w.signals(n)
    january = period_close(period_id=w.period(1).pk, now=datetime(2026, 2, 3, tzinfo=UTC))
    assert january.total == D("15.00")
    return w


def test_a_change_saved_mid_february_bills_february_old_and_march_new():
    w = billed_january()
    version = schedule(w, unit_price=D("6.00"), fee=D("10.00"))
    assert (version.number, version.effective_from) == (2, MAR_1)
    first = AgreementVersion.objects.get(agreement=w.agreement, number=1)
    assert first.source == "original" and first.effective_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert D(first.terms["prices"][str(w.outcome.pk)]["unit_price"]) == D("5.00")
    # The agreement's rows show the newest version (what the admin edits).
    w.agreement.refresh_from_db()
    assert w.agreement.platform_fee == D("10.00")
    assert Price.objects.get(pk=w.price.pk).unit_price == D("6.00")

    w.signals(2, at=FEB_15)
    w.signal()  # a late January signal
    periods_create(agreement=w.agreement, until=APR_5)
    preview = invoice_preview(period=w.period(2))
    assert [line.amount for line in preview.lines if line.kind == "outcome"] == [D("10.00")]
    february = period_close(period_id=w.period(2).pk, now=datetime(2026, 3, 3, tzinfo=UTC))
    # 2 x 5.00, the late January one at 5.00, no fee: version 1 whole.
    assert [(kind, amount) for kind, _, amount in lines(february)] == [
        ("adjustment", D("5.00")),
        ("outcome", D("10.00")),
    ]
    assert february.total == D("15.00")
    assert not february.lines.filter(kind="platform_fee").exists()

    w.signals(4, at=MAR_15)
    w.signal(at=FEB_15)  # late for February: adjusted at February's 5.00
    march = period_close(period_id=w.period(3).pk, now=APR_5)
    amounts = {line.kind: line.amount for line in march.lines.all()}
    assert amounts == {
        "outcome": D("24.00"),  # 4 x 6.00
        "platform_fee": D("10.00"),
        "adjustment": D("5.00"),  # 1 x 5.00, February's price
    }
    assert march.total == D("39.00")


def test_refusals_name_the_date_to_choose_and_change_nothing():
    w = billed_january()
    periods_create(agreement=w.agreement, until=MAR_15)
    cases = {
        datetime(2026, 1, 15, tzinfo=UTC): "is inside the period 2026-01-01 – 2026-02-01, which "
        "has been invoiced: new prices can take effect from 2026-03-01, 2026-04-01, 2026-05-01",
        datetime(2026, 2, 15, tzinfo=UTC): "2026-02-15 is not the start of one of this "
        "agreement's periods: new prices can take effect from 2026-03-01",
        datetime(2026, 2, 1, tzinfo=UTC): "The period from 2026-02-01 has begun: prices "
        "change only at a period boundary, so from 2026-03-01",
    }
    for at, message in cases.items():
        with pytest.raises(ConflictError) as error:
            schedule(w, at=at, unit_price=D("6.00"))
        assert message in error.value.message
        assert error.value.field == "effective_from"
    assert not AgreementVersion.objects.exists()
    assert Price.objects.get(pk=w.price.pk).unit_price == D("5.00")


def test_a_scheduled_version_is_replaced_until_it_begins_then_kept():
    w = billed_january()
    assert schedule(w, unit_price=D("6.00")).number == 2
    again = schedule(w, unit_price=D("7.00"))
    assert again.number == 2 and D(again.terms["prices"][str(w.outcome.pk)]["unit_price"]) == 7
    assert schedule(w, at=APR_1, unit_price=D("8.00")).number == 3
    with pytest.raises(
        ConflictError,
        match="Version 3 takes effect on 2026-04-01: a new version cannot start before it",
    ):
        schedule(w, at=MAR_1, unit_price=D("9.00"))
    assert boundaries_open(w.agreement, FEB_10, count=2) == [
        APR_1,
        datetime(2026, 5, 1, tzinfo=UTC),
    ]
    # The same terms again: nothing new.
    assert schedule(w, at=datetime(2026, 5, 1, tzinfo=UTC), unit_price=D("8.00")) is None
    assert AgreementVersion.objects.count() == 3


def test_a_version_a_closed_period_billed_under_is_never_changed():
    w = billed_january()
    schedule(w, unit_price=D("6.00"))
    w.signals(1, at=MAR_15)
    periods_create(agreement=w.agreement, until=APR_5)
    period_close(period_id=w.period(2).pk, now=datetime(2026, 3, 3, tzinfo=UTC))
    period_close(period_id=w.period(3).pk, now=APR_5)
    with pytest.raises(ConflictError, match="inside the period 2026-03-01 – 2026-04-01"):
        schedule(w, at=MAR_1, now=FEB_10, unit_price=D("7.00"))
    version = AgreementVersion.objects.get(number=2)
    assert D(version.terms["prices"][str(w.outcome.pk)]["unit_price"]) == D("6.00")


def test_nothing_billed_yet_or_another_outcome_is_refused():
    w = World(unit_price=D("5.00"))
    with pytest.raises(ConflictError, match="Nothing was invoiced under this agreement yet"):
        schedule(w, unit_price=D("6.00"))
    w = billed_january()
    other = terms(w.agreement, unit_price=D("6.00"))
    other["prices"]["999999"] = other["prices"][str(w.outcome.pk)]
    with pytest.raises(ConflictError, match="A version prices the outcomes its agreement prices"):
        version_schedule(
            agreement_id=w.agreement.pk,
            effective_from=MAR_1,
            terms=other,
            source="admin",
            now=FEB_10,
        )
    assert not AgreementVersion.objects.exists()


def test_simulation_and_disputes_use_each_periods_own_version():
    w = billed_january()
    schedule(w, unit_price=D("6.00"), fee=D("10.00"))
    w.signals(2, at=FEB_15)
    w.signals(4, at=MAR_15)
    periods_create(agreement=w.agreement, until=APR_5)
    february = period_close(period_id=w.period(2).pk, now=datetime(2026, 3, 3, tzinfo=UTC))
    march = period_close(period_id=w.period(3).pk, now=APR_5)
    assert (february.total, march.total) == (D("10.00"), D("34.00"))

    unchanged = agreement_simulate(agreement=w.agreement, periods=periods_closed(w.agreement))
    assert [p.simulated.invoiced for p in unchanged.periods] == [D("15.00"), D("10.00"), D("34.00")]
    for result in unchanged.periods:
        assert result.simulated.revenue == result.actual.revenue
    # A change applies to every period, the rest of each period's terms stays its own.
    changed = agreement_simulate(
        agreement=w.agreement,
        periods=periods_closed(w.agreement),
        price_changes={w.price.pk: {"unit_price": D("8.00")}},
    )
    assert [p.simulated.invoiced for p in changed.periods] == [D("24.00"), D("16.00"), D("42.00")]

    # A dispute on February credits February's 5.00, not today's 6.00.
    signal = february.marks.first().signal
    credit = dispute_credit_compute(invoice=february, signal_ids=[signal.pk])
    assert credit.net == D("5.00")
    assert InvoiceLine.objects.filter(invoice=march, kind="platform_fee").count() == 1


def test_late_signals_priced_by_their_versions_model_and_the_value_field_kept():
    """January: 10% of amount (2 x 100.00 = 20.00). From March, 5.00 per outcome. A late
    January signal of 50.00 billed on March's invoice: 10% = 5.00 of adjustment, by
    January's model. The value field stays in every version."""
    w = World(
        model="percent_of_value", unit_price=None, percent_of_value=D(10), value_field="amount"
    )
    w.signals(2, amount=100)
    period_close(period_id=w.period(1).pk, now=datetime(2026, 2, 3, tzinfo=UTC))
    data = terms(w.agreement)
    data["prices"][str(w.outcome.pk)] |= {"model": "per_outcome", "unit_price": "5"}
    with pytest.raises(ConflictError, match="keep the value field “amount”"):
        version_schedule(
            agreement_id=w.agreement.pk,
            effective_from=MAR_1,
            terms={
                **data,
                "prices": {k: v | {"value_field": ""} for k, v in data["prices"].items()},
            },
            source="admin",
            now=FEB_10,
        )
    version_schedule(
        agreement_id=w.agreement.pk, effective_from=MAR_1, terms=data, source="admin", now=FEB_10
    )
    periods_create(agreement=w.agreement, until=APR_5)
    period_close(period_id=w.period(2).pk, now=datetime(2026, 3, 3, tzinfo=UTC))
    w.signals(3, at=MAR_15, amount=1)
    w.signal(amount=50)  # late January
    march = period_close(period_id=w.period(3).pk, now=APR_5)
    amounts = {line.kind: line.amount for line in march.lines.all()}
    assert amounts == {"outcome": D("15.00"), "adjustment": D("5.00")}


def test_the_audit_reason_fits_its_column():
    w = billed_january()
    note = "a very long description of a portfolio change " * 5
    version = version_schedule(
        agreement_id=w.agreement.pk,
        effective_from=MAR_1,
        terms=terms(w.agreement, unit_price=D("6.00")),
        source="portfolio",
        note=note,
        now=FEB_10,
    )
    assert version.note == note
    reason = version.history.first().history_change_reason
    assert reason.startswith("Portfolio change: a very long") and len(reason) == 100
