"""Who may do what with prepaid credits in the admin: Finance creates grants and
recurring allowances (they are money) and keeps budgets; account managers read grants
and the ledger and keep budgets (a spend limit is agreed with the customer, like a deal),
never deleting one; viewers read everything. Nobody deletes a grant, a ledger entry or a
recurring allowance (the admin offers no delete; an allowance is made inactive)."""

from django.db import migrations

VIEW = [
    "view_creditgrant",
    "view_creditledgerentry",
    "view_recurringgrant",
    "view_budget",
    "view_budgetalert",
]
GROUPS = {
    "Finance": [
        *VIEW,
        "add_creditgrant",
        "change_creditgrant",
        "add_recurringgrant",
        "change_recurringgrant",
        "add_budget",
        "change_budget",
        "delete_budget",
    ],
    "Account managers": [*VIEW, "add_budget", "change_budget"],
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
    dependencies = [("billing", "0023_credit_returns_and_credit_accounts")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
