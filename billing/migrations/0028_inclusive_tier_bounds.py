"""Tier upper bounds become inclusive, as Stripe's and Lago's `up_to` (billing.pricing).

Graduated tiers charge the same either way. A volume tier stored before held
[from, up to); it now holds (from, up to]. Moving both bounds of every volume tier down by
0.00000001, the precision of quantities (8 places, as marks and quantities are stored),
keeps every quantity in the tier it was in: q < 100 exactly when q <= 99.99999999. So
every invoice issued under them is reproduced by rating its period again. Backwards, the
bounds move up again."""

from decimal import Decimal

import django.core.validators
from django.db import migrations, models
from django.db.models import F

STEP = Decimal("0.00000001")


def _volume_tiers(apps):
    return apps.get_model("billing", "PriceTier").objects.filter(price__model="volume")


def forwards(apps, schema_editor):
    # `from` first, then `up to`: every row keeps up_to > from at each statement.
    _volume_tiers(apps).filter(from_quantity__gt=0).update(from_quantity=F("from_quantity") - STEP)
    _volume_tiers(apps).filter(up_to_quantity__isnull=False).update(
        up_to_quantity=F("up_to_quantity") - STEP
    )


def backwards(apps, schema_editor):
    _volume_tiers(apps).filter(up_to_quantity__isnull=False).update(
        up_to_quantity=F("up_to_quantity") + STEP
    )
    _volume_tiers(apps).filter(from_quantity__gt=0).update(from_quantity=F("from_quantity") + STEP)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0027_budget_alert_emailed"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.AlterField(
            model_name="historicalpricetier",
            name="from_quantity",
            field=models.DecimalField(
                decimal_places=8,
                default=Decimal("0"),
                help_text="The tier starts above this quantity: the tier before's “up to” (the first tier: 0, and 0 itself is in it).",
                max_digits=20,
                validators=[django.core.validators.MinValueValidator(0)],
                verbose_name="above",
            ),
        ),
        migrations.AlterField(
            model_name="historicalpricetier",
            name="up_to_quantity",
            field=models.DecimalField(
                blank=True,
                decimal_places=8,
                help_text="The last quantity in the tier, included: up to 100 puts the 100th outcome in this tier. Empty: no limit (last tier).",
                max_digits=20,
                null=True,
                validators=[django.core.validators.MinValueValidator(0)],
                verbose_name="up to (included)",
            ),
        ),
        migrations.AlterField(
            model_name="pricetier",
            name="from_quantity",
            field=models.DecimalField(
                decimal_places=8,
                default=Decimal("0"),
                help_text="The tier starts above this quantity: the tier before's “up to” (the first tier: 0, and 0 itself is in it).",
                max_digits=20,
                validators=[django.core.validators.MinValueValidator(0)],
                verbose_name="above",
            ),
        ),
        migrations.AlterField(
            model_name="pricetier",
            name="up_to_quantity",
            field=models.DecimalField(
                blank=True,
                decimal_places=8,
                help_text="The last quantity in the tier, included: up to 100 puts the 100th outcome in this tier. Empty: no limit (last tier).",
                max_digits=20,
                null=True,
                validators=[django.core.validators.MinValueValidator(0)],
                verbose_name="up to (included)",
            ),
        ),
    ]
