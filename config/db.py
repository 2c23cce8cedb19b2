"""Database helpers shared by the apps."""

from django.db import connection, transaction

ANALYSE_FROM_BYTES = 8 * 1024 * 1024
_analysed: set[str] = set()  # tables seen analysed by this process (it stays so)


def statistics_ensure(models, *, remember: bool = False) -> None:
    """ANALYZE those of the models' tables that hold data (over 8 MB) but were never
    analysed: a fresh install, a first backlog, before autovacuum came by. Without
    statistics the planner guesses, and for a list of ids it guesses a sequential scan.
    A small sample (3,000 rows a table, not 30,000) is enough to choose the indexes and
    takes a tenth of the time; autovacuum analyses fully later.

    One catalog read; with `remember`, none once this process has seen the tables
    analysed (for paths as frequent as ingestion)."""
    if connection.vendor != "postgresql":
        return
    tables = [m._meta.db_table for m in models]
    if remember:
        tables = [t for t in tables if t not in _analysed]
    if not tables:
        return
    with connection.cursor() as cursor:
        # reltuples < 0: never analysed nor vacuumed (PostgreSQL 14 and later).
        cursor.execute(
            "SELECT c.relname, c.reltuples >= 0, pg_relation_size(c.oid) > %s FROM pg_class c "
            "WHERE c.relname = ANY(%s) AND pg_table_is_visible(c.oid) AND c.relkind = 'r'",
            [ANALYSE_FROM_BYTES, tables],
        )
        rows = cursor.fetchall()
    stale = [table for table, analysed, big in rows if big and not analysed]
    if remember:
        _analysed.update(table for table, analysed, _ in rows if analysed)
        _analysed.update(stale)
    if not stale:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL default_statistics_target = 10")
        for table in stale:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
