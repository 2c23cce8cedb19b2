"""The closing benchmark writes its world with raw SQL (COPY, INSERT): a column added
without a database default breaks it, and only a benchmark run would tell. Its seed, at a
tiny size, must give periods that close."""

import pytest
from django.db import connection
from django.utils import timezone

from billing.models import Invoice
from billing.periods import periods_create_due, periods_due
from billing.services import period_close
from tests.benchmarks import closing

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_closing_benchmark_seed_gives_periods_that_close(on_postgres):
    s = connection.settings_dict
    url = f"postgresql://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
    closing.seed(url, 4, 80, analyse=False)
    now = timezone.now()
    periods_create_due(now=now)
    due = periods_due(now=now)
    assert len(due) == 4
    for period in due:
        period_close(period_id=period.pk)
    assert Invoice.objects.filter(number__isnull=False).count() == 4
