"""Paid's order shows the terms in effect now: a change scheduled from a later period
start (an agreement version) shows in GET /api/v2/orders/{id}, the order list and its
lines once it begins, though the agreement's rows hold it already."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from billing.models import AgreementVersion
from billing.rating import prices_of
from billing.services import period_close
from billing.version_changes import version_schedule
from billing.versions import agreement_now, prices_now, terms_read
from tests.api_helpers import agent_key
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db
NEXT_YEAR = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture
def scheduled():
    """Billed January at 5.00 an outcome and a 100.00 fee; 8.00 and 150.00 from 2027."""
    world = World(unit_price=D("5.00"), agreement_kwargs={"platform_fee": D("100.00")})
    world.signals(1)
    period_close(period_id=world.period(1).pk)
    terms = terms_read(world.agreement, prices_of(world.agreement))
    terms["platform_fee"] = "150.00"
    for price in terms["prices"].values():
        price["unit_price"] = "8.00"
    version_schedule(
        agreement_id=world.agreement.pk,
        effective_from=NEXT_YEAR,
        terms=terms,
        source=AgreementVersion.Source.ADMIN,
    )
    world.agreement.refresh_from_db()
    world.price.refresh_from_db()
    # The rows hold the newest version already.
    assert (world.agreement.platform_fee, world.price.unit_price) == (D("150.00"), D("8.00"))
    return world


def get(client, path):
    response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {agent_key()}")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_order_shows_the_terms_in_effect_now(client, scheduled):
    order = get(client, f"/api/v2/orders/{scheduled.agreement.pk}")
    assert order["platformFee"] == 100
    listed = get(client, "/api/v2/orders/")["data"]
    assert [o["platformFee"] for o in listed] == [100]
    [line] = get(client, f"/api/v2/orders/{scheduled.agreement.pk}/lines")["data"]
    assert line["pricing"]["pricePoints"]["unitPrice"] == 500  # minor units: 5.00


def test_the_scheduled_terms_once_they_begin(scheduled):
    before = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert agreement_now(scheduled.agreement, now=before).platform_fee == D("100.00")
    assert agreement_now(scheduled.agreement, now=NEXT_YEAR).platform_fee == D("150.00")
    [price] = prices_now(scheduled.agreement, now=before)
    assert price.unit_price == D("5.00")
    [price] = prices_now(scheduled.agreement, now=NEXT_YEAR)
    assert price.unit_price == D("8.00")


def test_an_agreement_without_versions_shows_its_rows(client):
    world = World(unit_price=D("5.00"), agreement_kwargs={"platform_fee": D("20.00")})
    assert get(client, f"/api/v2/orders/{world.agreement.pk}")["platformFee"] == 20
    [line] = get(client, f"/api/v2/orders/{world.agreement.pk}/lines")["data"]
    assert line["pricing"]["pricePoints"]["unitPrice"] == 500


def test_a_tiered_version_scheduled_later_shows_no_tiers_yet(client):
    world = World(unit_price=D("5.00"))
    world.signals(1)
    period_close(period_id=world.period(1).pk)
    terms = terms_read(world.agreement, prices_of(world.agreement))
    for price in terms["prices"].values():
        price |= {"model": "graduated", "unit_price": None}
        price["tiers"] = [["0", "100", "1.00"], ["100", None, "0.50"]]
    version_schedule(
        agreement_id=world.agreement.pk,
        effective_from=NEXT_YEAR,
        terms=terms,
        source=AgreementVersion.Source.ADMIN,
    )
    [line] = get(client, f"/api/v2/orders/{world.agreement.pk}/lines")["data"]
    assert line["pricing"]["pricingModel"] == "perUnit"
    assert line["pricing"]["pricePoints"]["unitPrice"] == 500
    assert line["pricing"]["pricePoints"]["tiers"] == []
