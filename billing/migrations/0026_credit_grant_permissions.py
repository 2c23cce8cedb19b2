"""Who may do what with prepaid credit grants: Finance creates them (the staff API, and
top-ups); account managers and viewers read them and their ledgers, as Finance does."""

from django.db import migrations

VIEW = ["view_creditgrant", "view_creditledgerentry"]
GROUPS = {
    "Finance": [*VIEW, "add_creditgrant"],
    "Account managers": VIEW,
    "Viewers": VIEW,
}


def forwards(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    create_permissions(global_apps.get_app_config("billing"), verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="billing", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0025_balances")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
