"""A first close on a fresh database does not depend on the planner's guesses: tables
that hold data but were never analysed are analysed first (timed by
`make bench-closing`, which closes a backlog on a never analysed database)."""

from decimal import Decimal as D

import pytest
from django.db import connection

from billing.services import period_close
from config import db
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


def reltuples(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def test_a_close_analyses_the_tables_it_reads_when_they_have_no_statistics(
    on_postgres, monkeypatch
):
    monkeypatch.setattr(db, "ANALYSE_FROM_BYTES", 0)  # the test's tables are small
    w = World(unit_price=D(1))
    w.signals(3)
    with connection.cursor() as cursor:  # as after a bulk load, before autovacuum
        cursor.execute("UPDATE pg_class SET reltuples = -1 WHERE relname = 'agents_signal'")
    assert reltuples("agents_signal") == -1
    assert period_close(period_id=w.period().pk).total == D("3.00")
    assert reltuples("agents_signal") == 3


def test_small_tables_without_statistics_are_left_to_autovacuum(on_postgres, monkeypatch):
    monkeypatch.setattr(db, "ANALYSE_FROM_BYTES", 10**15)
    w = World(unit_price=D(1))
    w.signals(2)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pg_class SET reltuples = -1 WHERE relname = 'agents_signal'")
    period_close(period_id=w.period().pk)
    assert reltuples("agents_signal") == -1
