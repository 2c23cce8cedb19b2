"""Two payments of one invoice at the same time that together exceed what is due: one is
recorded, the other refused; amount_paid never exceeds the total (PostgreSQL)."""

import threading
from decimal import Decimal as D

import pytest
from django.db import connection
from django.utils import timezone

from billing.errors import PaymentError
from billing.models import Invoice, Payment
from billing.receivables import payment_record
from tests.receivables_helpers import invoice_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(invoice, payments):
    barrier = threading.Barrier(len(payments))
    results = []

    def pay(amount, reference):
        try:
            barrier.wait()
            results.append(
                payment_record(
                    invoice_id=invoice.pk,
                    amount=amount,
                    currency=invoice.currency,
                    received_on=timezone.now().date(),
                    reference=reference,
                )[1]
            )
        except PaymentError as exc:
            results.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=p) for p in payments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("attempt", range(3))
def test_two_payments_that_exceed_the_total_together_one_is_refused(on_postgres, attempt):
    invoice = invoice_of("100")
    results = race(invoice, [(D("60"), "A"), (D("60"), "B")])
    assert results.count(True) == 1, results
    refused = [r for r in results if r is not True]
    assert len(refused) == 1 and "more than the 40.00 USD due" in refused[0]
    invoice.refresh_from_db()
    assert invoice.amount_paid == D("60") and invoice.status == Invoice.Status.ISSUED
    assert Payment.objects.count() == 1


def test_payments_that_fit_all_add_up_and_pay_the_invoice(on_postgres):
    invoice = invoice_of("100")
    results = race(invoice, [(D("25"), f"R{i}") for i in range(4)])
    assert results == [True] * 4
    invoice.refresh_from_db()
    assert invoice.amount_paid == invoice.total == D("100") and invoice.status == "paid"


def test_the_same_payment_twice_at_once_is_recorded_once(on_postgres):
    invoice = invoice_of("100")
    results = race(invoice, [(D("30"), "SAME"), (D("30"), "SAME")])
    assert sorted(results) == [False, True]
    invoice.refresh_from_db()
    assert invoice.amount_paid == D("30") and Payment.objects.count() == 1
