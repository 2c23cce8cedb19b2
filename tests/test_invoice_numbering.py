"""Invoice numbers: the seller's format, gapless per year, assigned at issue inside the
closing transaction; invoices numbered before formats keep their numbers; closing
refuses while the seller profile lacks what a legal invoice prints."""

import threading
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor

from billing.models import Invoice, SellerProfile
from billing.models.seller import number_format_check
from billing.periods import periods_create
from billing.services import ClosingError, period_close
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


def test_numbers_follow_the_format_and_restart_each_year():
    w = World(unit_price=D(1))
    w.signals(1)
    periods_create(agreement=w.agreement, until=datetime(2027, 2, 2, tzinfo=UTC))
    december = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    numbers = [period_close(period_id=w.period(1).pk, now=december).number]
    numbers.append(period_close(period_id=w.period(2).pk, now=december).number)
    january = datetime(2027, 1, 1, 0, 1, tzinfo=UTC)
    for month in range(3, 5):
        numbers.append(period_close(period_id=w.period(month).pk, now=january).number)
    assert numbers == ["INV-2026-000001", "INV-2026-000002", "INV-2027-000001", "INV-2027-000002"]


def test_a_custom_format_without_the_year_never_restarts():
    SellerProfile.objects.filter(pk=1).update(invoice_number_format="ACME/{seq:05d}")
    w = World(unit_price=D(1))
    periods_create(agreement=w.agreement, until=datetime(2026, 3, 2, tzinfo=UTC))
    first = period_close(period_id=w.period(1).pk, now=datetime(2026, 12, 31, tzinfo=UTC))
    second = period_close(period_id=w.period(2).pk, now=datetime(2027, 1, 2, tzinfo=UTC))
    assert (first.number, second.number) == ("ACME/00001", "ACME/00002")


def test_a_literal_year_in_braces_is_text_and_numbers_never_restart():
    SellerProfile.objects.filter(pk=1).update(invoice_number_format="INV-{{year}}-{seq:04d}")
    w = World(unit_price=D(1))
    periods_create(agreement=w.agreement, until=datetime(2026, 3, 2, tzinfo=UTC))
    first = period_close(period_id=w.period(1).pk, now=datetime(2026, 12, 31, tzinfo=UTC))
    second = period_close(period_id=w.period(2).pk, now=datetime(2027, 1, 2, tzinfo=UTC))
    assert (first.number, second.number) == ("INV-{year}-0001", "INV-{year}-0002")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("INV-{year}", "needs {seq}"),
        ("INV-{seq:06d}-{customer}", "Only {year} and {seq}"),
        ("INV-{seq:06d", "is not a number format"),
        ("INV-{seq:zz}", "is not a number format"),
        ("{seq:040d}", "longer than 30"),
    ],
)
def test_a_number_format_that_cannot_number_is_refused_with_what_to_fix(value, message):
    with pytest.raises(ValidationError, match=message):
        number_format_check(value)


@pytest.mark.parametrize("field", ["legal_name", "tax_id", "address_country"])
def test_closing_refuses_while_the_seller_profile_is_incomplete(field):
    SellerProfile.objects.filter(pk=1).update(**{field: ""})
    w = World(unit_price=D(1))
    w.signals(2)
    label = str(SellerProfile._meta.get_field(field).verbose_name)
    with pytest.raises(ClosingError, match=f"seller profile is incomplete: fill in {label}"):
        period_close(period_id=w.period().pk)
    assert not Invoice.objects.exists() and w.period().state == "open"
    SellerProfile.objects.filter(pk=1).update(
        **{field: "GB" if field == "address_country" else "X"}
    )
    assert period_close(period_id=w.period().pk).sequence == 1  # the number was not used


def test_closing_refuses_without_any_seller_profile():
    SellerProfile.objects.all().delete()
    w = World(unit_price=D(1))
    with pytest.raises(ClosingError, match="Admin › Billing › Seller profile"):
        period_close(period_id=w.period().pk)


def test_the_invoice_keeps_the_seller_and_buyer_it_was_issued_with():
    w = World(unit_price=D(1))
    w.customer.legal_name, w.customer.vat_number = "Buyer GmbH", "DE136695976"
    w.customer.address_line1, w.customer.address_city = "Hauptstr. 1", "Berlin"
    w.customer.address_postal_code, w.customer.address_country = "10115", "DE"
    w.customer.save()
    invoice = period_close(period_id=w.period().pk)
    SellerProfile.objects.filter(pk=1).update(legal_name="Renamed Ltd")
    w.customer.legal_name = "Renamed GmbH"
    w.customer.save()
    invoice.refresh_from_db()
    assert invoice.seller["legal_name"] == "Outcome Agents Ltd"
    assert invoice.seller["tax_id"] == "GB980780684"
    assert invoice.buyer == {
        "legal_name": "Buyer GmbH",
        "external_id": w.customer.external_id,
        "address": ["Hauptstr. 1", "10115 Berlin"],
        "country": "DE",
        "tax_id": "DE136695976",
        "email": w.customer.billing_email,
    }


def test_the_customer_payment_terms_win_over_the_agreement():
    w = World(unit_price=D(1), agreement_kwargs={"payment_terms_days": 30})
    w.customer.payment_terms_days = 14
    w.customer.save()
    now = datetime(2026, 2, 3, 10, tzinfo=UTC)
    invoice = period_close(period_id=w.period().pk, now=now)
    assert invoice.due_at == datetime(2026, 2, 17, 10, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_numbers_issued_before_formats_are_kept_by_the_migration(on_postgres):
    # PostgreSQL only: migrating SQLite back rebuilds tables under the overlap triggers.
    executor = MigrationExecutor(connection)
    old = [
        ("billing", "0012_margin_unpriced_costs"),
        ("customers", "0002_paid_fields_and_contacts"),
    ]
    executor.migrate(old)
    apps = executor.loader.project_state(old).apps
    Customer = apps.get_model("customers", "Customer")
    Agreement = apps.get_model("billing", "PriceAgreement")
    Period = apps.get_model("billing", "BillingPeriod")
    OldInvoice = apps.get_model("billing", "Invoice")
    Counter = apps.get_model("billing", "InvoiceCounter")
    customer = Customer.objects.create(external_id="cus_old", name="Old", billing_email="a@b.c")
    agreement = Agreement.objects.create(
        customer=customer, name="Old", currency="USD", starts_on="2026-01-01"
    )
    period = Period.objects.create(
        agreement=agreement,
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2026, 2, 1, tzinfo=UTC),
        state="closed",
    )
    at = datetime(2026, 2, 2, tzinfo=UTC)
    OldInvoice.objects.create(
        number=9,
        period=period,
        customer=customer,
        currency="USD",
        issued_at=at,
        due_at=at,
        total=D("12.34"),
    )
    Counter.objects.update_or_create(pk=1, defaults={"last_number": 9})

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    kept = Invoice.objects.get(customer__external_id="cus_old")
    assert (kept.number, kept.sequence_year, kept.sequence) == ("9", 0, 9)
    assert (kept.net, kept.tax, kept.total) == (D("12.34"), D(0), D("12.34"))
    assert str(kept) == "Invoice 9"


@pytest.mark.django_db(transaction=True)
def test_concurrent_closes_take_consecutive_numbers_without_gaps(on_postgres):
    from tests.factories import SellerProfileFactory

    SellerProfileFactory()
    worlds = [World(unit_price=D(1)) for _ in range(6)]
    for w in worlds:
        w.signals(2)
    barrier = threading.Barrier(len(worlds))
    errors = []

    def close(world):
        try:
            barrier.wait()
            period_close(period_id=world.period().pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=close, args=(w,)) for w in worlds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(Invoice.objects.values_list("sequence", flat=True)) == [1, 2, 3, 4, 5, 6]
