"""Two orders for the same customer and outcome on overlapping dates, created at the same
moment (PostgreSQL): one agreement is created, the other is a conflict, never both."""

import threading
from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection

from billing.agreements import PriceTerms, agreement_create
from billing.models import PriceAgreement
from customers.errors import ConflictError
from tests import factories as f


@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_orders_create_one_agreement(on_postgres):
    customer = f.CustomerFactory()
    outcome = f.OutcomeDefinitionFactory()
    start = threading.Barrier(2)
    results = []

    def create(name):
        try:
            start.wait(timeout=10)
            agreement_create(
                customer=customer,
                name=name,
                currency="USD",
                starts_on=date(2026, 1, 1),
                ends_on=None,
                cadence="monthly",
                platform_fee=D(0),
                payment_terms_days=30,
                prices=[
                    PriceTerms(outcome_definition=outcome, model="per_outcome", unit_price=D(1))
                ],
                changed_by="test",
            )
            results.append("created")
        except ConflictError:
            results.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(f"Order {n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["conflict", "created"]
    assert PriceAgreement.objects.filter(customer=customer).count() == 1
