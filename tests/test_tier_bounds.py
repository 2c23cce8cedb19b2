"""Inclusive tier upper bounds (billing.pricing.Tier) and migration 0028, which moved the
bounds of volume tiers stored before so that every invoice issued under them is
reproduced."""

from decimal import Decimal as D

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing.models import PriceTier
from billing.pricing import graduated_charge, volume_charge
from billing.services import period_close
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db

BEFORE = [("billing", "0027_budget_alert_emailed")]
AFTER = [("billing", "0028_inclusive_tier_bounds")]


def _tiers(price_id: int) -> list[tuple]:
    return list(
        PriceTier.objects.filter(price_id=price_id)
        .order_by("from_quantity")
        .values_list("from_quantity", "up_to_quantity", "unit_price")
    )


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_what_volume_tiers_charged_and_goes_back(on_postgres):
    # PostgreSQL only: migrating SQLite back rebuilds tables under the overlap triggers.
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    # Rows as a database before 0028 held them (0028 changes no column: the models fit).
    volume = World(model="volume", tiers=[(0, 10, D("1.00")), (10, None, D("0.50"))])
    graduated = World(model="graduated", tiers=[(0, 10, D("1.00")), (10, None, D("0.50"))])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)

    moved = _tiers(volume.price.pk)
    assert moved == [
        (D(0), D("9.99999999"), D("1.00")),
        (D("9.99999999"), None, D("0.50")),
    ]
    # What [0, 10) @ 1.00, [10, ...) @ 0.50 charged before, to the last place:
    for quantity, charged in [
        ("9", "9.00"),
        ("9.99999999", "9.99999999"),
        ("10", "5.00"),
        ("10.25", "5.125"),
        ("0", "0"),
    ]:
        assert volume_charge(D(quantity), moved) == D(charged)
    # Graduated tiers charge the same either way and are left as they were.
    kept = _tiers(graduated.price.pk)
    assert kept == [(D(0), D(10), D("1.00")), (D(10), None, D("0.50"))]
    assert graduated_charge(D(10), kept) == D("10.00")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(BEFORE)
    assert _tiers(volume.price.pk) == [(D(0), D(10), D("1.00")), (D(10), None, D("0.50"))]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_an_invoice_under_a_migrated_tier_is_charged_as_before():
    """The tiers as 0028 leaves [0, 10) @ 1.00, [10, ...) @ 0.50: ten outcomes close at
    0.50 each, as they did; nine at 1.00."""
    migrated = [(0, D("9.99999999"), D("1.00")), (D("9.99999999"), None, D("0.50"))]
    for n, expected in [(10, "5.00"), (9, "9.00")]:
        w = World(model="volume", tiers=migrated)
        w.signals(n)
        invoice = period_close(period_id=w.period().pk)
        assert invoice.lines.get(kind="outcome").amount == D(expected)


def test_the_tier_fields_say_the_bound_is_included(admin_client):
    response = admin_client.get("/admin/billing/priceagreement/add/")
    page = response.content.decode()
    assert "Up to (included)" in page and "Above" in page
    tier = PriceTier(from_quantity=D(100), up_to_quantity=D(500), unit_price=D("0.8"))
    assert str(tier) == "above 100 up to 500 @ 0.80"
    assert str(PriceTier(up_to_quantity=D(100), unit_price=D(1))) == "up to 100 @ 1.00"
