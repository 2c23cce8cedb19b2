"""Accepting the same dispute twice at once, or two disputes of one invoice at once,
never issues two credit notes for one dispute nor credits an outcome twice; the credits
add up as if accepted one after the other (PostgreSQL)."""

import threading
from decimal import Decimal as D

import pytest
from django.db import connection

from billing.disputes import dispute_accept, dispute_open
from billing.errors import DisputeError
from billing.models import CreditNote, Dispute, Invoice
from billing.services import period_close
from tests.billing_helpers import World

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(dispute_ids):
    barrier = threading.Barrier(len(dispute_ids))
    results = []

    def accept(dispute_id):
        try:
            barrier.wait()
            results.append(dispute_accept(dispute_id=dispute_id).credit_note_id)
        except DisputeError as exc:
            results.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(pk,)) for pk in dispute_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def billed(n=11):
    # graduated: up to 10 @ 2.00, above @ 1.00; 11 outcomes = 21.00
    w = World(model="graduated", tiers=[(0, 10, D("2.00")), (10, None, D("1.00"))])
    signals = w.signals(n)
    invoice = period_close(period_id=w.period().pk)
    return w, signals, invoice


def opened(w, signal):
    return dispute_open(customer_id=w.customer.pk, signal_ids=[signal.pk], reason="x")


@pytest.mark.parametrize("attempt", range(3))
def test_the_same_dispute_accepted_twice_at_once_credits_once(on_postgres, attempt):
    w, signals, _invoice = billed()
    d = opened(w, signals[0])
    results = race([d.pk, d.pk])
    assert len([r for r in results if isinstance(r, int)]) == 1, results
    assert any("was accepted on" in str(r) for r in results)
    assert CreditNote.objects.count() == 1
    assert CreditNote.objects.get().net == D("1.00")


@pytest.mark.parametrize("attempt", range(3))
def test_two_disputes_of_one_invoice_at_once_credit_as_one_after_the_other(on_postgres, attempt):
    w, signals, invoice = billed()
    first, second = opened(w, signals[0]), opened(w, signals[1])
    results = race([first.pk, second.pk])
    assert all(isinstance(r, int) for r in results), results
    # 11 -> 10 outcomes: 1.00; 10 -> 9: 2.00 (whichever came first)
    assert sorted(n.net for n in CreditNote.objects.all()) == [D("1.00"), D("2.00")]
    invoice.refresh_from_db()
    assert invoice.amount_credited == D("3.00") and invoice.status == Invoice.Status.ISSUED
    assert set(Dispute.objects.values_list("state", flat=True)) == {"accepted"}
