"""Exactly once: a repeated, failed or concurrent close issues one invoice; late
signals become adjustments once; void and reissue picks up corrected data."""

import threading
from datetime import UTC, date, datetime
from decimal import Decimal as D
from unittest import mock

import pytest
from django.db import connection

from billing import invoice_store, services
from billing.models import BilledSignal, Invoice, Price
from billing.periods import periods_create, periods_create_due, periods_due
from billing.services import (
    invoice_preview,
    invoice_void,
    invoice_void_and_reissue,
    period_close,
    period_reissue,
)
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


def test_closing_twice_issues_one_invoice_and_numbers_have_no_gaps():
    a, b = World(unit_price=D(1)), World(unit_price=D(1))
    a.signals(3)
    first = period_close(period_id=a.period().pk)
    assert period_close(period_id=a.period().pk) is None
    second = period_close(period_id=b.period().pk)
    assert Invoice.objects.count() == 2
    year = first.issued_at.year
    assert (first.number, second.number) == (f"INV-{year}-000001", f"INV-{year}-000002")
    assert a.period().state == "closed"


def test_failure_after_lines_are_computed_leaves_nothing_and_a_retry_issues_it():
    w = World(unit_price=D(2))
    w.signals(4)
    killed = mock.patch.object(invoice_store, "document_number_next", side_effect=RuntimeError("x"))
    with killed, pytest.raises(RuntimeError):
        period_close(period_id=w.period().pk)
    assert not Invoice.objects.exists() and not BilledSignal.objects.exists()
    assert w.period().state == "open"
    invoice = period_close(period_id=w.period().pk)
    assert invoice.total == D("8.00") and invoice.sequence == 1


def test_late_signal_billed_once_as_an_adjustment_naming_its_period():
    w = World(unit_price=D(3))
    w.signals(2)
    period_close(period_id=w.period().pk)
    late = w.signal()  # occurred in January, arrives after January closed
    periods_create(agreement=w.agreement, until=datetime(2026, 3, 5, tzinfo=UTC))
    february = period_close(period_id=w.period(2).pk)
    adjustment = february.lines.get(kind="adjustment")
    assert adjustment.amount == D("3.00") and adjustment.adjusted_period == w.period(1)
    assert "2026-01-01" in adjustment.description
    assert BilledSignal.objects.get(signal=late).invoice == february
    march = (
        period_close(period_id=w.period(3).pk)
        if w.agreement.periods.filter(starts_at__month=3).exists()
        else None
    )
    assert march is None or not march.lines.filter(kind="adjustment").exists()


def test_late_signal_adjustment_respects_the_tier_it_pushes_into():
    w = World(model="volume", tiers=[(0, 2, D("2.00")), (2, None, D("1.00"))])
    w.signals(2)
    period_close(period_id=w.period().pk)  # 2 x 2.00 = 4.00 (up to 2 included)
    w.signal()
    periods_create(agreement=w.agreement, until=datetime(2026, 3, 5, tzinfo=UTC))
    february = period_close(period_id=w.period(2).pk)
    # January with the late one: 3 x 1.00 = 3.00, already billed 4.00
    assert february.lines.get(kind="adjustment").amount == D("-1.00")


def test_periods_close_in_order_and_only_when_grace_has_passed():
    w = World(unit_price=D(1))
    periods_create(agreement=w.agreement, until=datetime(2026, 3, 5, tzinfo=UTC))
    due = periods_due(now=datetime(2026, 1, 31, 23, tzinfo=UTC))
    assert due == []  # January not over
    due = periods_due(now=datetime(2026, 2, 1, 12, tzinfo=UTC))
    assert due == []  # within the 24 h grace period
    due = periods_due(now=datetime(2026, 3, 5, tzinfo=UTC))
    assert [p.starts_at.month for p in due] == [1]  # February waits for January
    with pytest.raises(services.ClosingError, match="earlier period"):
        period_close(period_id=w.period(2).pk)


def test_periods_are_created_as_time_passes_without_a_query_per_agreement(
    django_assert_max_num_queries,
):
    ended = World(unit_price=D(1), agreement_kwargs={"ends_on": date(2026, 1, 31)}).agreement
    agreements = [World(unit_price=D(1)).agreement for _ in range(2)] + [ended]
    periods_create_due(now=datetime(2026, 3, 5, tzinfo=UTC))
    months = {a.pk: sorted(p.starts_at.month for p in a.periods.all()) for a in agreements}
    assert months[agreements[0].pk] == [1, 2, 3] and months[ended.pk] == [1]
    # Every agreement has its periods up to now: one query finds that, none creates any.
    with django_assert_max_num_queries(2):
        periods_create_due(now=datetime(2026, 3, 6, tzinfo=UTC))
    periods_create_due(now=datetime(2026, 4, 2, tzinfo=UTC))
    assert agreements[0].periods.count() == 4 and ended.periods.count() == 1


def test_void_and_reissue_picks_up_corrected_prices():
    w = World(unit_price=D(1))
    w.signals(5)
    original = period_close(period_id=w.period().pk)
    Price.objects.filter(pk=w.price.pk).update(unit_price=D(2))
    replacement = invoice_void_and_reissue(invoice_id=original.pk, reason="wrong unit price")
    original.refresh_from_db()
    assert original.status == "void" and original.void_reason == "wrong unit price"
    assert original.total == D("5.00")  # a closed invoice is never rewritten
    assert replacement.total == D("10.00") and replacement.replaces == original
    assert replacement.sequence == original.sequence + 1
    assert BilledSignal.objects.filter(invoice=replacement).count() == 5
    with pytest.raises(services.ClosingError, match="already void"):
        invoice_void_and_reissue(invoice_id=original.pk, reason="again")


def test_a_voided_period_waits_for_its_reissue_and_holds_back_the_next_one():
    w = World(unit_price=D(1))
    w.signals(4)
    january = period_close(period_id=w.period().pk)
    invoice_void(invoice_id=january.pk, reason="customer disputed the count")
    assert w.period().state == "voided"
    assert not BilledSignal.objects.exists()  # its signals are released, to bill again
    # Neither beat nor a retried close issues it again; the next period waits for it.
    periods_create(agreement=w.agreement, until=datetime(2026, 3, 5, tzinfo=UTC))
    assert period_close(period_id=w.period().pk) is None
    assert [p.starts_at.month for p in periods_due(now=datetime(2026, 3, 5, tzinfo=UTC))] == []
    with pytest.raises(services.ClosingError, match="earlier period"):
        period_close(period_id=w.period(2).pk)
    # Finance corrects the data and reissues it.
    w.signal()
    Price.objects.filter(pk=w.price.pk).update(unit_price=D(2))
    reissued = period_reissue(period_id=w.period().pk)
    assert (reissued.total, reissued.replaces, reissued.sequence) == (D("10.00"), january, 2)
    assert w.period().state == "closed"
    with pytest.raises(services.ClosingError, match="not voided"):
        period_reissue(period_id=w.period().pk)
    assert [p.starts_at.month for p in periods_due(now=datetime(2026, 3, 5, tzinfo=UTC))] == [2]


def test_dry_run_changes_nothing():
    w = World(unit_price=D(1))
    w.signals(5)
    draft = invoice_preview(period=w.period())
    assert draft.total == D("5.00")
    assert not Invoice.objects.exists() and not BilledSignal.objects.exists()
    assert w.period().state == "open"


@pytest.mark.django_db(transaction=True)
def test_20_concurrent_closes_issue_one_invoice(on_postgres):
    w = World(unit_price=D(1))
    w.signals(30)
    period_id = w.period().pk
    barrier = threading.Barrier(20)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(period_close(period_id=period_id))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len([r for r in results if r is not None]) == 1
    assert Invoice.objects.count() == 1 and Invoice.objects.get().total == D("30.00")
    assert BilledSignal.objects.count() == 30
