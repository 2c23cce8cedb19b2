"""Two workers run the same invoice e-mail at once (PostgreSQL, two connections): the
conditional UPDATE lets one claim it, so the SMTP server receives exactly one message."""

import threading
from decimal import Decimal as D

import pytest
from django.db import connection

from billing.delivery import delivery_send
from billing.models import InvoiceDelivery
from billing.services import period_close
from tests.billing_helpers import World
from tests.mail_helpers import smtp_server


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_send_one_email(on_postgres, settings):
    w = World(unit_price=D("3.00"))
    w.signals(2)
    invoice = period_close(period_id=w.period().pk)
    delivery = InvoiceDelivery.objects.get(invoice=invoice, kind="invoice")
    start = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            start.wait()
            results.append(delivery_send(delivery_id=delivery.pk))
        except Exception as exc:  # reported below, never swallowed
            errors.append(exc)
        finally:
            connection.close()

    with smtp_server(settings) as inbox:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
    assert len(inbox.envelopes) == 1
    assert sorted(r is None for r in results) == [False, True]  # one sent, one stood aside
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 1)
