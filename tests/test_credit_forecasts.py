"""When a customer's money credits run out, computed by hand: the rate is what was drawn
(net of voids) by invoices closed in the last 30 days, divided by 30; the forecast draws
it daily from the grants soonest expiry first, remainders lapse at expiry. The credits
page and the running-out list show it, and a page view writes and locks nothing."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.credit_forecasts import burndown, credit_forecast, customers_running_out
from billing.credits import grants_expire
from billing.services import invoice_void, period_close
from tests import factories as f
from tests.billing_helpers import World
from tests.credit_helpers import grant
from tests.receivables_helpers import staff

pytestmark = pytest.mark.django_db

CLOSED = datetime(2026, 2, 2, tzinfo=UTC)  # January's invoice draws the credits then
NOW = datetime(2026, 2, 12, 12, tzinfo=UTC)
NEVER = None


def drawn(amount_left, *, grants=None, charged=3, closed=CLOSED):
    """A customer whose January invoice (charged x 100.00) drew from `grants` (name ->
    (amount, expires_at)); by default one grant leaving `amount_left`."""
    w = World(unit_price=D("100.00"))
    grants = grants or {"Annual": (D(amount_left) + charged * 100, NEVER)}
    made = {
        name: grant(w.customer, amount, name=name, expires_at=expires)
        for name, (amount, expires) in grants.items()
    }
    w.signals(charged)
    invoice = period_close(period_id=w.period(1).pk, now=closed)
    return w, made, invoice


def test_300_left_drawn_at_10_a_day_runs_out_in_30_days():
    w, made, _ = drawn("300.00")
    forecast = credit_forecast(customer=w.customer, now=NOW)
    # 600.00 granted, 300.00 drawn on 2 February (in the 30 days before 12 February):
    # 300.00 / 30 = 10.00 a day; 300.00 left / 10.00 = 30 days: 14 March, 12:00.
    assert (forecast.remaining, forecast.drawn, forecast.rate) == (
        D("300.00"),
        D("300.00"),
        D("10.00"),
    )
    assert forecast.runs_out_at == datetime(2026, 3, 14, 12, tzinfo=UTC)
    assert forecast.days_left == 30 and not forecast.runs_out_by_expiry
    assert forecast.ends == {made["Annual"].pk: (forecast.runs_out_at, D(0))}


def test_the_soonest_expiry_is_drawn_first_and_its_remainder_lapses():
    feb22 = datetime(2026, 2, 22, 12, tzinfo=UTC)
    w, made, _ = drawn(None, grants={"Promo": (D("450.00"), feb22), "Annual": (D("500.00"), NEVER)})
    promo, annual = made["Promo"], made["Annual"]
    promo.refresh_from_db()
    assert promo.remaining == D("150.00")  # January's 300.00 came from the promo
    forecast = credit_forecast(customer=w.customer, now=NOW)
    # 10.00 a day: the promo gives 100.00 by 22 February, 50.00 lapses; the annual grant's
    # 500.00 lasts 50 days more: 13 April.
    assert forecast.remaining == D("650.00")
    assert forecast.ends == {
        promo.pk: (feb22, D("50.00")),
        annual.pk: (datetime(2026, 4, 13, 12, tzinfo=UTC), D(0)),
    }
    assert forecast.lapses == {promo.pk}
    assert forecast.runs_out_at == datetime(2026, 4, 13, 12, tzinfo=UTC)


def test_credits_also_run_out_when_the_last_grant_expires_with_some_left():
    feb22 = datetime(2026, 2, 22, 12, tzinfo=UTC)
    w, _, _ = drawn(None, grants={"Promo": (D("1000.00"), feb22)})
    forecast = credit_forecast(customer=w.customer, now=NOW)
    # 700.00 left, 100.00 drawn by 22 February; 600.00 lapse then.
    assert forecast.runs_out_at == feb22 and forecast.runs_out_by_expiry
    assert forecast.days_left == 10


@pytest.mark.parametrize(
    ("effective", "runs_out"),
    [
        # Effective on 1 March, before the first runs out (14 March): 30 days more.
        (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 13, 12, tzinfo=UTC)),
        # Effective on 1 April: the customer has none from 14 March to 1 April.
        (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 3, 14, 12, tzinfo=UTC)),
    ],
)
def test_a_later_grant_extends_the_credits_unless_there_is_a_gap(effective, runs_out):
    w, _, _ = drawn("300.00")
    grant(w.customer, "300.00", name="Next", effective_at=effective)
    forecast = credit_forecast(customer=w.customer, now=NOW)
    assert forecast.remaining == D("300.00")  # in effect today
    assert forecast.runs_out_at == runs_out


def test_a_customer_with_no_credits_in_effect_today_is_out_not_running_out(client, at_now):
    w, _, _ = drawn("0.00")  # January used all 300.00
    grant(w.customer, "300.00", name="Next", effective_at=datetime(2026, 3, 1, tzinfo=UTC))
    forecast = credit_forecast(customer=w.customer, now=NOW)
    assert (forecast.remaining, forecast.rate, forecast.runs_out_at) == (0, D("10.00"), None)
    assert customers_running_out(now=NOW) == []
    client.force_login(staff("Finance"))
    url = reverse("admin:billing_creditgrant_customer", args=[w.customer.pk])
    html = client.get(url).content.decode()
    assert "None in effect today" in html and "takes effect on 2026-03-01" in html


def test_drawdowns_older_than_30_days_and_expiries_are_not_the_rate():
    w, _, _ = drawn("300.00")
    grant(w.customer, "50.00", name="Unused", expires_at=datetime(2026, 2, 1, tzinfo=UTC))
    assert grants_expire(now=datetime(2026, 2, 10, tzinfo=UTC)) == 1  # -50.00 written off
    assert credit_forecast(customer=w.customer, now=NOW).drawn == D("300.00")
    later = credit_forecast(customer=w.customer, now=CLOSED + timedelta(days=30, seconds=1))
    assert (later.drawn, later.rate, later.runs_out_at) == (D(0), D(0), None)


def test_a_void_gives_the_drawdown_back_and_nets_it_out_of_the_rate():
    now = timezone.now()
    w, _, invoice = drawn("300.00", closed=now - timedelta(days=5))
    invoice_void(invoice_id=invoice.pk, reason="Wrong price")
    forecast = credit_forecast(customer=w.customer, now=timezone.now())
    assert (forecast.remaining, forecast.drawn, forecast.runs_out_at) == (D("600.00"), 0, None)


def test_the_burndown_series_by_hand():
    w, made, _ = drawn(
        None, grants={"Year": (D("600.00"), datetime(2027, 1, 1, tzinfo=UTC))}, charged=3
    )
    year = made["Year"]
    year.refresh_from_db()
    chart = burndown(year, now=NOW, forecast=credit_forecast(customer=w.customer, now=NOW))
    # 365 days from 1 January 2026 to expiry; 2 February leaves 333; 12 February 12:00
    # leaves 322.5; at 10.00 a day the 300.00 left last to 14 March 12:00: 292.5 left.
    assert [(p["x"], p["y"], p["at"]) for p in chart["balance"]] == [
        (D("365.00"), D("600.00"), "2026-01-01"),
        (D("333.00"), D("300.00"), "2026-02-02"),
        (D("322.50"), D("300.00"), "2026-02-12"),
    ]
    assert chart["plan"] == [{"x": D("365.00"), "y": D("600.00")}, {"x": 0, "y": 0}]
    assert chart["forecast"] == [
        {"x": D("322.50"), "y": D("300.00")},
        {"x": D("292.50"), "y": D("0.00")},
    ]
    assert chart["expires"] and chart["places"] == 2


def test_running_out_lists_who_runs_out_within_14_days_soonest_first():
    drawn("300.00")  # 30 days: not listed
    in_10, _, _ = drawn("100.00")
    in_5, _, _ = drawn("50.00")
    idle = f.CustomerFactory()
    grant(idle, "10.00")  # nothing drawn: never runs out at this rate
    rows = customers_running_out(now=NOW)
    assert [(customer, forecast.days_left) for customer, forecast in rows] == [
        (in_5.customer, 5),
        (in_10.customer, 10),
    ]


@pytest.fixture
def at_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def test_the_running_out_page_lists_them_and_says_when_nobody_is(client, at_now):
    client.force_login(staff("Account managers"))
    url = reverse("admin:billing_creditgrant_running_out")
    empty = client.get(url).content.decode()
    assert "Nobody: no customer's money credits run out within 14 days" in empty
    drawn("300.00")
    in_10, _, _ = drawn("100.00")
    in_5, _, _ = drawn("50.00")
    html = client.get(url).content.decode()
    assert "Nobody" not in html
    first, second = in_5.customer, in_10.customer
    assert html.index(first.external_id) < html.index(second.external_id)
    assert html.count("data-customer=") == 2
    assert reverse("admin:billing_creditgrant_customer", args=[first.pk]) in html
    # 50.00 left, 300.00 drawn in 30 days, 10.00 a day, out on 17 February, in 5 days.
    row = html[html.index(f'data-customer="{first.external_id}"') :].split("</tr>")[0]
    for shown in ("50.00 USD", "300.00 USD", "10.00 USD", "2026-02-17", ">5<", "used up"):
        assert shown in row, shown


def test_the_credits_page_shows_balance_forecast_grants_and_ledger(client, at_now):
    w, _, invoice = drawn("300.00")
    grant(w.customer, "100", name="Docs", unit="outcomes", outcome_definition=w.outcome)
    client.force_login(staff("Viewers"))
    page = client.get(reverse("admin:billing_creditgrant_customer", args=[w.customer.pk]))
    html = page.content.decode()
    assert 'id="money-left">300.00 USD<' in html
    assert 'id="money-drawn">300.00 USD<' in html and "10.00 USD a day" in html
    assert 'id="runs-out" class="">2026-03-14<' in html and "in 30 days: used up" in html
    assert "100 outcomes" in html and "600.00 USD" in html
    assert invoice.number in html and "-300.00 USD" in html  # the ledger
    assert 'id="credit-charts"' in html and "credits_burndown.js" in html
    assert [c["name"] for c in page.context["charts"]] == ["Docs", "Annual"]
    assert "Add a grant" not in html  # viewers add none
    assert "300.00000000" not in html


def test_the_credits_page_without_credits(client, at_now):
    customer = f.CustomerFactory()
    client.force_login(staff("Finance"))
    html = client.get(reverse("admin:billing_creditgrant_customer", args=[customer.pk]))
    html = html.content.decode()
    assert "No money credits left" in html and "No grants yet." in html
    assert "No live grant to chart" in html and "Add a grant" in html
    missing = reverse("admin:billing_creditgrant_customer", args=[customer.pk + 1000])
    assert client.get(missing).status_code == 404


def test_a_page_view_writes_nothing_and_takes_no_lock(client):
    w, _, _ = drawn("50.00", closed=timezone.now() - timedelta(days=1))
    client.force_login(staff("Finance"))
    urls = [
        reverse("admin:billing_creditgrant_customer", args=[w.customer.pk]),
        reverse("admin:billing_creditgrant_running_out"),
    ]
    for url in urls:
        client.get(url)  # warm the session
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        writes = [
            q["sql"]
            for q in queries
            if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
            or "FOR UPDATE" in q["sql"].upper()
        ]
        assert writes == [], url
