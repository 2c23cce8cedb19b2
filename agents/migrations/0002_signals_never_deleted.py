"""Signals are never deleted: on PostgreSQL a statement trigger refuses any DELETE.

Signals are the record of what agents did, and invoices were computed from them
(billing's marks name their signal without a foreign key, so nothing else keeps a
billed signal, or one a close in progress is billing). TRUNCATE, which only test
teardown uses, is not a DELETE.

The trigger used to be created by billing 0011; it belongs to the table it guards.
Databases where billing 0011 already ran have it, so this replaces the function and
the trigger instead of assuming they are absent.

On SQLite (the one-machine trial) the ORM's PROTECT keeps billed signals; a trigger
there would fire row by row during the test runner's flush, in no fixed table order.
"""

from django.db import migrations

MESSAGE = (
    "signals are never deleted: they are the record of what agents did, "
    "and invoices were computed from them"
)

POSTGRES = [
    f"""
    CREATE OR REPLACE FUNCTION agents_signal_never_deleted() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    "DROP TRIGGER IF EXISTS agents_signal_never_deleted ON agents_signal",
    """
    CREATE TRIGGER agents_signal_never_deleted BEFORE DELETE ON agents_signal
    FOR EACH STATEMENT EXECUTE FUNCTION agents_signal_never_deleted()
    """,
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS agents_signal_never_deleted ON agents_signal",
    "DROP FUNCTION IF EXISTS agents_signal_never_deleted()",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES:
            schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES_REVERSE:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
