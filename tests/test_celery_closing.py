"""A real Celery worker on Redis closes a due period end to end (PostgreSQL + Redis)."""

import os
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from billing.models import Invoice
from billing.tasks import close_due_periods
from config.celery import app
from tests.billing_helpers import World

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db(transaction=True)
def test_worker_closes_a_due_period_once(on_postgres):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs CELERY_BROKER_URL pointing at Redis")
    w = World(unit_price=D("1.50"))
    w.signals(4)
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    app.control.purge()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        close_due_periods.delay()
        close_due_periods.delay()  # a duplicate dispatch changes nothing
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not Invoice.objects.exists():
            time.sleep(0.5)
        time.sleep(2)  # let the duplicate run too
        invoices = list(Invoice.objects.all())
        assert len(invoices) == 1, worker.stderr.read1().decode() if invoices == [] else invoices
        assert invoices[0].period == w.period() and invoices[0].total == D("6.00")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
