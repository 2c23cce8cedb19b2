"""The pricing lab's page: "Simulate a change" on an agreement, for each role, as a
table and CSV; proposals the agreement would refuse are named; a run writes nothing."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal as D
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from billing.models import AgreementVersion
from billing.services import period_close
from billing.version_changes import boundaries_open
from tests.billing_helpers import World
from tests.test_simulations import database_state

pytestmark = pytest.mark.django_db


def login(client, group: str | None):
    user = User.objects.create_user(f"u-{group}", password="pw-123456-x", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return client


@pytest.fixture
def world():
    w = World(unit_price=D("1.00"), partial_rule="fixed")
    w.signals(12)
    w.signals(2, status="partial")  # 12.8 units: 12.80
    period_close(period_id=w.period().pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    return w


def url(w) -> str:
    return f"/admin/billing/priceagreement/{w.agreement.pk}/simulate/"


def proposal(w, **changes) -> dict:
    period = w.period().pk
    data = {"run": "1", "first": period, "last": period, "platform_fee": "0"}
    data |= {"minimum_commitment": "0", "spend_cap": ""}
    prefix = f"price-{w.price.pk}-"
    price = {"model": "per_outcome", "unit_price": "1.00", "tiers": "", "included_quantity": "0"}
    price |= {"percent_of_value": "", "value_field": "", "markup_percent": ""}
    data |= {prefix + k: v for k, v in (price | changes).items()}
    return data


@pytest.mark.parametrize("group", ["Account managers", "Finance", "Viewers"])
def test_every_role_that_sees_agreements_may_simulate(client, world, group):
    login(client, group)
    page = client.get(url(world))
    assert page.status_code == 200
    assert f"price-{world.price.pk}-unit_price" in page.content.decode()
    answer = client.get(url(world), proposal(world, unit_price="1.10"))
    table = answer.content.decode()
    assert answer.status_code == 200 and 'id="lab-table"' in table
    assert "12.80" in table and "14.08" in table and "+1.28" in table


def test_staff_without_the_right_and_anonymous_users_are_refused(client, world):
    assert client.get(url(world)).status_code == 302  # to the login page
    login(client, None)
    assert client.get(url(world)).status_code == 403
    assert client.get(url(world), proposal(world) | {"format": "csv"}).status_code == 403


def test_graduated_tiers_as_typed_and_the_csv(client, world):
    login(client, "Account managers")
    data = proposal(world, model="graduated", unit_price="", tiers="up to 10 @ 1.00\nabove @ 0.50")
    page = client.get(url(world), data).content.decode()
    assert "11.40" in page  # 10 + 2.8 x 0.50
    response = client.get(url(world), data | {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    (row,) = csv.DictReader(io.StringIO(response.content.decode()))
    assert row["revenue_actual"] == "12.80" and row["revenue_simulated"] == "11.40"
    assert row["change"] == "-1.40" and row["currency"] == "USD"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unit_price": "-1"}, "greater than or equal to 0"),
        (
            {"model": "graduated", "tiers": "up to 10 @ 1\nup to 12 @ 1\nup to 5 @ 1\nabove @ 1"},
            "must end above its start",
        ),
        ({"model": "volume", "unit_price": "", "tiers": "ten @ 1"}, "Line 1 (“ten @ 1”)"),
        ({"model": "volume", "unit_price": "", "tiers": "up to 10 @ 1"}, "last tier"),
        ({"unit_price": ""}, "per-outcome price needs a unit price"),
    ],
)
def test_a_proposal_the_agreement_would_refuse_says_what_to_fix(client, world, changes, message):
    login(client, "Account managers")
    page = client.get(url(world), proposal(world, **changes)).content.decode()
    assert message in page.replace("&quot;", '"')
    assert 'id="lab-table"' not in page


def test_an_agreement_without_closed_periods_says_so(client):
    login(client, "Account managers")
    w = World(unit_price=D("1.00"))
    page = client.get(url(w)).content.decode()
    assert "no closed period yet" in page


def test_running_a_simulation_writes_nothing(client, world):
    login(client, "Finance")
    before = database_state()
    client.get(url(world), proposal(world, unit_price="2.00"))
    client.get(url(world), proposal(world, unit_price="2.00") | {"format": "csv"})
    after = database_state()
    # the login's session row is the only difference
    assert {k: v for k, v in after.items() if k != "sessions.Session"} == {
        k: v for k, v in before.items() if k != "sessions.Session"
    }


def test_the_agreement_page_links_to_the_lab(client, world):
    login(client, "Viewers")
    page = client.get(f"/admin/billing/priceagreement/{world.agreement.pk}/change/")
    assert url(world) in page.content.decode()


def test_a_partial_rule_simulated_on_the_page(client, world):
    """12 successes and 2 partials at 0.4 (12.80): at 0.5, 13.00; not charged, 12.00."""
    login(client, "Account managers")
    page = client.get(url(world)).content.decode()
    assert f'name="price-{world.price.pk}-partial_fraction" value="0.4"' in page
    half = proposal(world, partial_rule="fixed", partial_fraction="0.5")
    assert "13.00" in client.get(url(world), half).content.decode()
    none = proposal(world, partial_rule="none", partial_fraction="")
    assert "12.00" in client.get(url(world), none).content.decode()
    # A ratio needs its data fields; these partials have neither: they count nothing.
    ratio = client.get(url(world), proposal(world, partial_rule="ratio")).content.decode()
    assert "Name the signal&#x27;s data field, e.g. steps_done." in ratio
    assert "Name the signal&#x27;s data field, e.g. steps_total." in ratio
    assert 'id="lab-table"' not in ratio
    fields = {"ratio_numerator_field": "done", "ratio_denominator_field": "total"}
    ratio = client.get(url(world), proposal(world, partial_rule="ratio", **fields))
    assert "12.00" in ratio.content.decode()
    # A partial rule is the outcome definition's: never applied as a version.
    start = boundaries_open(world.agreement, timezone.now())[0].isoformat()
    answer = client.post(url(world) + "?" + urlencode(half), {"effective_from": start})
    assert "A partial rule belongs to its outcome definition" in answer.content.decode()
    assert not AgreementVersion.objects.exists()


@pytest.mark.parametrize(
    "tiers", ["above @ 1e30", "up to 1e25 @ 1\nabove @ 1", "above @ 0.123456789"]
)
def test_numbers_a_price_cannot_hold_are_named_not_a_500(client, world, tiers):
    login(client, "Viewers")
    data = proposal(world, model="graduated", unit_price="", tiers=tiers)
    answer = client.get(url(world), data)
    assert answer.status_code == 200
    page = answer.content.decode()
    assert 'id="lab-problems"' in page and "tier 1" in page
    assert 'id="lab-table"' not in page
