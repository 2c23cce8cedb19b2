import django.utils.timezone
from django.db import migrations, models


def balances_forget(apps, schema_editor):
    """Stored balances are a cache: the next refresh recomputes them with their inputs."""
    apps.get_model("billing", "CustomerBalance").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0031_top_up_invoices"),
    ]

    operations = [
        migrations.RunPython(balances_forget, migrations.RunPython.noop),
        migrations.AddField(
            model_name="customerbalance",
            name="signals_count",
            field=models.BigIntegerField(
                default=0, help_text="How many signals the customer had when it was computed."
            ),
        ),
        migrations.AddField(
            model_name="customerbalance",
            name="inputs_digest",
            field=models.CharField(
                blank=True,
                max_length=32,
                help_text="A digest of the other rows it was computed from (balance_inputs.py); "
                "empty when it can only be recomputed (cost-plus prices).",
            ),
        ),
        migrations.AddField(
            model_name="customerbalance",
            name="valid_until",
            field=models.DateTimeField(
                blank=True,
                null=True,
                help_text="When time alone changes it: a period ends, an agreement starts, a "
                "grant takes effect or expires. Empty: never.",
            ),
        ),
        migrations.AddField(
            model_name="customerbalance",
            name="checked_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now,
                help_text="When the figures were last known exact: computed, or found with "
                "none of their inputs changed since. What the API's as_of and age are.",
            ),
            preserve_default=False,
        ),
    ]
