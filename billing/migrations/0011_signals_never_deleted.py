"""Marks no longer hold a foreign key to their signal: signals are never deleted.

A mark's foreign key to its signal cost each closing one check per mark, and each check
locked and rewrote the signal's row (about half the write-ahead log of closing
1,000,000 signals). A billed signal must still never disappear, and a signal being
billed by a close in progress must not either, which a check on "is it billed?" at
delete time cannot see. So signals cannot be deleted at all: on PostgreSQL a statement
trigger refuses any DELETE on agents_signal (agents 0002, which owns that table; this
migration created the trigger until then, and databases where it ran keep theirs until
agents 0002 replaces it). On SQLite the ORM's PROTECT keeps billed signals.

This migration must not depend on agents 0002: databases where it already ran have
not run agents 0002 yet, and Django refuses a history applied out of dependency order.
"""

import django.db.models.deletion
from django.db import migrations, models


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
    ]
