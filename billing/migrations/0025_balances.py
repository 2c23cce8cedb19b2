"""The live balance: the spend a spend limit measures and a cost watermark; who may read
balances and budgets through the staff API (Account managers, Finance and Viewers)."""

from decimal import Decimal

from django.db import migrations, models

READERS = ("Account managers", "Finance", "Viewers")
VIEW = ["view_customerbalance", "view_budget", "view_budgetalert"]


def forwards(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    create_permissions(global_apps.get_app_config("billing"), verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(content_type__app_label="billing", codename__in=VIEW)
    for name in READERS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*view)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0024_credits_admin_groups"),
    ]

    operations = [
        migrations.AddField(
            model_name="customerbalance",
            name="costs_seen",
            field=models.BigIntegerField(default=0, help_text="Highest cost id counted."),
        ),
        migrations.AddField(
            model_name="customerbalance",
            name="spend_period",
            field=models.DecimalField(
                decimal_places=8,
                default=Decimal("0"),
                help_text="Charges of the current period(s) alone: what a spend limit measures.",
                max_digits=20,
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
