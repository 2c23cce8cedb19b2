"""The upcoming invoice is a preview: the same rating and invoicing as a close, read
only. It writes nothing, locks nothing, creates no period, and shows earlier unclosed
periods as such, never as late signals of the open one."""

import threading
from datetime import UTC, datetime
from decimal import Decimal as D
from unittest import mock

import psycopg
import pytest
from django.db import DatabaseError, OperationalError, connection
from django.urls import reverse

from billing import services
from billing.errors import StateError
from billing.models import BilledSignal, BillingPeriod, Invoice, MarginFigure
from billing.periods import period_current, periods_create
from billing.services import invoice_preview, invoice_void, period_close
from tests import factories as f
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db
FEB = datetime(2026, 2, 10, 12, tzinfo=UTC)
MAR_5 = datetime(2026, 3, 5, tzinfo=UTC)


def lines_of(lines):
    return [
        (line.kind, line.description, line.amount, line.quantity, line.successes, line.partials)
        for line in lines
    ]


def figures_of(margins):
    return [(m.outcome_definition_id, m.revenue, m.cost, m.margin, m.successes) for m in margins]


def cost(world, signal, amount):
    f.CostFactory(
        agent=world.agent,
        customer=world.customer,
        signal=signal,
        amount=D(amount),
        workflow_id=signal.workflow_id,
    )


def test_preview_is_the_invoice_the_close_then_issues():
    # Partials at 0.4, a fee, costs: every line and margin figure of the preview is what
    # the close issues.
    w = World(
        unit_price=D("2.50"),
        partial_rule="fixed",
        agreement_kwargs={"platform_fee": D("10"), "margin_target": D("50")},
    )
    for s in w.signals(3):
        cost(w, s, "0.40")
    for s in w.signals(2, status="partial"):
        cost(w, s, "0.10")
    w.signals(1, status="bad")
    draft = invoice_preview(period=w.period())
    invoice = period_close(period_id=w.period().pk)
    # 3 x 2.50 + 2 x 0.4 x 2.50 = 9.50, + 10 fee
    assert draft.total == invoice.total == D("19.50")
    assert lines_of(draft.lines) == lines_of(invoice.lines.all())
    assert figures_of(draft.margins) == figures_of(invoice.margins.all())


def test_preview_counts_a_workflow_once_and_late_signals_as_the_close_does():
    w = World(unit_price=D(5), per_workflow=True, model="cost_plus", markup_percent=D(20))
    first = w.signal(workflow="wf-1")
    cost(w, first, "1.00")
    w.signal(workflow="wf-1")  # the same workflow: not a second outcome
    cost(w, w.signal(workflow="wf-2"), "2.00")
    period_close(period_id=w.period().pk)
    periods_create(agreement=w.agreement, until=MAR_5)
    late = w.signal(workflow="wf-3")  # January's, arriving after January closed
    cost(w, late, "3.00")
    w.signal(workflow="wf-1", at=FEB)  # wf-1 was counted in January: never again
    cost(w, w.signal(workflow="wf-4", at=FEB), "4.00")
    draft = invoice_preview(period=w.period(2))
    february = period_close(period_id=w.period(2).pk)
    assert lines_of(draft.lines) == lines_of(february.lines.all())
    # wf-4: 4.00 x 1.2; late wf-3: 3.00 x 1.2 as January's adjustment
    assert [line.amount for line in february.lines.all()] == [D("4.80"), D("3.60")]
    assert figures_of(draft.margins) == figures_of(february.margins.all())


def test_preview_writes_nothing_and_creates_no_period():
    w = World(unit_price=D(1))
    w.signals(2)
    w.agreement.periods.all().delete()
    with mock.patch("django.utils.timezone.now", return_value=datetime(2026, 1, 20, tzinfo=UTC)):
        period = period_current(agreement=w.agreement, now=datetime(2026, 1, 20, tzinfo=UTC))
        assert period.pk is None and period.starts_at == datetime(2026, 1, 1, tzinfo=UTC)
        draft = invoice_preview(period=period)
        assert draft.total == D("2.00")
    assert not BillingPeriod.objects.exists()
    assert not Invoice.objects.exists() and not Invoice.history.exists()
    assert not BilledSignal.objects.exists() and not MarginFigure.objects.exists()


def test_earlier_unclosed_periods_are_shown_as_such_not_as_late_signals(admin_client):
    # September and October still open while November is previewed: the preview bills
    # November's own signals; the earlier ones are listed as not yet closed.
    w = World(unit_price=D(1))
    periods_create(agreement=w.agreement, until=MAR_5)
    w.signals(3)  # January's
    w.signals(2, at=FEB)
    draft = invoice_preview(period=w.period(2))
    assert [(line.kind, line.amount, line.successes) for line in draft.lines] == [
        ("outcome", D("2.00"), 2)
    ]
    assert [p.starts_at.month for p in draft.unsettled] == [1]
    with mock.patch("django.utils.timezone.now", return_value=FEB):
        page = admin_client.get(
            reverse("admin:billing_priceagreement_change", args=[w.agreement.pk])
        ).content.decode()
    assert "Late signals" not in page
    assert "2026-01-01 – 2026-02-01: not yet closed" in page
    # Once January is closed, the same preview's total is unchanged.
    period_close(period_id=w.period(1).pk)
    assert invoice_preview(period=w.period(2)).total == draft.total


def test_state_changes_refuse_a_wrong_starting_state():
    w = World(unit_price=D(1))
    w.signals(1)
    period = w.period()
    with pytest.raises(StateError, match="cannot become voided"):
        period.void()
    invoice = period_close(period_id=period.pk)
    period.refresh_from_db()
    with pytest.raises(StateError, match="cannot become closed"):
        period.close(at=FEB)
    invoice_void(invoice_id=invoice.pk, reason="wrong data")
    invoice.refresh_from_db()
    with pytest.raises(StateError, match="already void"):
        invoice.void(reason="again", at=FEB)
    assert list(Invoice.objects.issued()) == [] and list(MarginFigure.objects.live()) == []


def _other_connection():
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
    )


@pytest.mark.django_db(transaction=True)
def test_agreement_page_opens_while_a_close_holds_the_period_lock(admin_client, on_postgres):
    w = World(unit_price=D(1))
    now = datetime(2026, 3, 10, tzinfo=UTC)
    periods_create(agreement=w.agreement, until=now)
    w.signals(2, at=datetime(2026, 3, 2, tzinfo=UTC))
    march = w.period(3)
    before = BillingPeriod.objects.count()
    holder = _other_connection()
    holder.execute("SELECT 1 FROM billing_billingperiod WHERE id = %s FOR UPDATE", [march.pk])
    responses = []

    def open_page():
        with mock.patch("django.utils.timezone.now", return_value=now):
            url = reverse("admin:billing_priceagreement_change", args=[w.agreement.pk])
            responses.append(admin_client.get(url))
        connection.close()

    reader = threading.Thread(target=open_page)
    try:
        reader.start()
        reader.join(timeout=20)
        opened_while_locked = not reader.is_alive()
    finally:
        holder.rollback()
        holder.close()
        reader.join()
    assert opened_while_locked, "the agreement page waited for the period's lock"
    page = responses[0].content.decode()
    assert responses[0].status_code == 200 and "upcoming-invoice" in page
    assert "2026-03-01 – 2026-04-01" in page
    assert BillingPeriod.objects.count() == before
    assert not Invoice.objects.exists() and not BilledSignal.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_close_stuck_behind_a_lock_stops_at_the_statement_timeout(settings, on_postgres):
    settings.CLOSING_STATEMENT_TIMEOUT_SECONDS = 1
    w = World(unit_price=D(1))
    w.signals(1)
    holder = _other_connection()
    holder.execute("SELECT 1 FROM billing_billingperiod WHERE id = %s FOR UPDATE", [w.period().pk])
    try:
        with pytest.raises(OperationalError, match="statement timeout"):
            period_close(period_id=w.period().pk)
    finally:
        holder.rollback()
        holder.close()
    assert period_close(period_id=w.period().pk).total == D("1.00")


def test_a_preview_that_tried_to_write_would_be_refused_by_postgresql(on_postgres):
    w = World(unit_price=D(1))
    w.signals(1)
    draft = services.invoice_draft

    def writing_draft(**kwargs):
        f.CustomerFactory()
        return draft(**kwargs)

    with (
        mock.patch.object(services, "invoice_draft", writing_draft),
        pytest.raises(DatabaseError, match="read-only transaction"),
    ):
        invoice_preview(period=w.period())
    # The preview's savepoint is rolled back with its settings: closing writes again.
    assert period_close(period_id=w.period().pk).total == D("1.00")
