"""A period close and an order's delete at the same moment: the delete waits for the
close's lock on the period, then sees its invoice and keeps the agreement (409). Proved
on PostgreSQL (SQLite runs one writer at a time, so there it cannot interleave)."""

import threading
import time
from decimal import Decimal as D

import pytest
from django.db import connection, transaction

from billing.agreement_changes import agreement_delete
from billing.models import Invoice, PriceAgreement
from billing.services import period_close
from customers.errors import ConflictError
from tests.billing_helpers import World

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks interleave only on PostgreSQL"
)


@pytest.mark.django_db(transaction=True)
def test_a_delete_racing_a_close_keeps_the_billed_agreement():
    w = World(unit_price=D(1))
    w.signals(3)
    errors = []

    def delete():
        try:
            agreement_delete(agreement_id=w.agreement.pk, changed_by="race")
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    with transaction.atomic():  # the close holds its period's lock until it commits
        period_close(period_id=w.period().pk)
        racer = threading.Thread(target=delete)
        racer.start()
        time.sleep(0.5)  # the delete is now waiting on the period's row
        assert racer.is_alive()
    racer.join()
    assert [type(e) for e in errors] == [ConflictError]
    assert PriceAgreement.objects.filter(pk=w.agreement.pk).exists()
    assert Invoice.objects.filter(period__agreement=w.agreement).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_close_racing_a_delete_finds_no_period_and_bills_nothing():
    w = World(unit_price=D(1))
    w.signals(3)
    period_id = w.period().pk
    errors = []

    def close():
        try:
            period_close(period_id=period_id)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    with transaction.atomic():  # the delete holds the periods' locks until it commits
        agreement_delete(agreement_id=w.agreement.pk, changed_by="race")
        racer = threading.Thread(target=close)
        racer.start()
        time.sleep(0.5)  # the close is now waiting on the period's row
        assert racer.is_alive()
    racer.join()
    assert [type(e).__name__ for e in errors] == ["DoesNotExist"]
    assert not Invoice.objects.exists()
    assert not PriceAgreement.objects.filter(pk=w.agreement.pk).exists()
