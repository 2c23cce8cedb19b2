"""The portfolio change page: each role sees the customers a change concerns, by
impact, flagged above the threshold, as a table and CSV; those who may change
agreements schedule it for the customers ticked; bad input and a change matching
nothing say what to fix; a run writes nothing."""

# ruff: noqa: F811 - `book`, the fixture of tests/test_portfolio.py, is each test's argument

import csv
import io
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, User

from billing.models import AgreementVersion, Price
from tests import factories as f
from tests.test_portfolio import book  # noqa: F401 - the fixture
from tests.test_simulations import database_state

pytestmark = pytest.mark.django_db

URL = "/admin/billing/priceagreement/portfolio/"


def login(client, group):
    user = User.objects.create_user(f"u-{group}", password="pw-123456-x", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


def query(book, **changes):
    data = {"run": "1", "kind": "percent", "outcome": book["x"].pk, "percent": "10"}
    data |= {"model": "graduated", "tiers": "", "amount": "", "currency": ""}
    data |= {"starts_from": "2026-01-01", "ends_by": "2026-02-01", "threshold": "5"}
    return URL + "?" + urlencode(data | changes)


@pytest.mark.parametrize("group", ["Account managers", "Finance", "Viewers"])
def test_every_role_sees_the_customers_by_impact(client, book, group):
    login(client, group)
    assert (
        "Simulate a portfolio change"
        in client.get("/admin/billing/priceagreement/").content.decode()
    )
    before = database_state()
    page = client.get(query(book)).content.decode()
    assert database_state() == before
    table = page[page.index('id="portfolio-table"') :]
    assert table.index("Beta") < table.index("Acme")  # +2.00 before +1.50
    assert "22.00" in table and "+2.00" in table and "16.50" in table and "+1.50" in table
    assert "Total USD" in table and "38.50" in table
    assert page.count("⚠ above +5") == 2 and "Cyan" not in table
    ticks = 'name="agreement"' in page
    assert ticks == (group != "Viewers")


def test_csv_has_a_row_per_customer(client, book):
    login(client, "Viewers")
    answer = client.get(query(book, format="csv"))
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert [
        (r["customer"], r["revenue_simulated"], r["change_percent"], r["flagged"]) for r in rows
    ] == [
        ("Beta", "22.00", "10.00", "yes"),
        ("Acme", "16.50", "10.00", "yes"),
    ]


def test_bad_input_and_matching_nothing_say_what_to_fix(client, book):
    login(client, "Account managers")
    page = client.get(query(book, percent="")).content.decode()
    assert "Give a change above -100%, e.g. 10 for +10%." in page
    page = client.get(query(book, kind="minimum", amount="500", outcome="")).content.decode()
    assert "A minimum is an amount: choose the agreements&#x27; currency." in page
    page = client.get(query(book, kind="tiers", tiers="up to ten @ 1")).content.decode()
    assert "should read “up to 100 @ 1.00”" in page
    unused = f.OutcomeDefinitionFactory(name="Unused")
    page = client.get(query(book, outcome=unused.pk)).content.decode()
    assert 'id="matches-nothing"' in page and "matches no agreement" in page


def test_scheduled_for_the_ticked_customers(client, book):
    user = login(client, "Finance")
    response = client.post(query(book), {"agreement": [book["a"].pk], "on_or_after": ""})
    assert response.status_code == 302
    version = AgreementVersion.objects.get(number=2)
    assert (version.agreement, version.source, version.created_by) == (book["a"], "portfolio", user)
    assert Price.objects.get(agreement=book["b"]).unit_price == 2  # not ticked: unchanged
    page = client.get(response["Location"]).content.decode()
    assert "Scheduled “Extracted: prices +10%” for 1 agreement" in page


def test_nothing_ticked_or_a_viewer_schedules_nothing(client, book):
    login(client, "Account managers")
    page = client.post(query(book), {"on_or_after": ""}).content.decode()
    assert "Tick the customers to schedule the change for." in page
    client.logout()
    login(client, "Viewers")
    assert client.post(query(book), {"agreement": [book["a"].pk]}).status_code == 403
    assert not AgreementVersion.objects.exists()


@pytest.mark.parametrize("ticked", ["²", "99999999999999999999999", "-1", "x"])
def test_ticked_ids_not_offered_schedule_nothing(client, book, ticked):
    login(client, "Finance")
    answer = client.post(query(book), {"agreement": [book["a"].pk, ticked]})
    assert answer.status_code == 200
    assert "not among those this change applies to" in answer.content.decode()
    # Cyan does not price the outcome: its agreement is not offered either.
    answer = client.post(query(book), {"agreement": [book["c"].pk]})
    assert "not among those this change applies to" in answer.content.decode()
    assert not AgreementVersion.objects.exists()
