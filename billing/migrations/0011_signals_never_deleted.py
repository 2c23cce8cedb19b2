"""Signals are never deleted, on PostgreSQL by a trigger; marks no longer hold a foreign
key to them.

A mark's foreign key to its signal cost each closing one check per mark, and each check
locked and rewrote the signal's row (about half the write-ahead log of closing
1,000,000 signals). A billed signal must still never disappear, and a signal being
billed by a close in progress must not either, which a check on "is it billed?" at
delete time cannot see. So signals, the record of what agents did and what invoices were
computed from, cannot be deleted at all: a statement trigger refuses any DELETE
(TRUNCATE, which only test teardown uses, is not a DELETE).

On SQLite (the one-machine trial) the ORM's PROTECT keeps billed signals; a trigger
there would fire row by row during the test runner's flush, in no fixed table order.
"""

import django.db.models.deletion
from django.db import migrations, models

MESSAGE = (
    "signals are never deleted: they are the record of what agents did, "
    "and invoices were computed from them"
)

POSTGRES = [
    f"""
    CREATE FUNCTION agents_signal_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
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
        ("billing", "0010_period_voided_state"),
    ]

    operations = [
        migrations.AlterField(
            model_name="billedsignal",
            name="signal",
            field=models.OneToOneField(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                primary_key=True,
                related_name="billing_mark",
                serialize=False,
                to="agents.signal",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
