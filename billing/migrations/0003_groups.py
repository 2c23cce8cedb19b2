"""The three groups of the back-office and what each may do."""

from django.db import migrations

EDIT = ("add", "change", "delete", "view")

ACCOUNT_MANAGER_MODELS = {
    "customers": ["customer"],
    "agents": ["agent"],
    "billing": ["outcomedefinition", "outcomecriterion", "priceagreement", "price", "pricetier"],
}
READ_MODELS = {
    "customers": ["customer"],
    "agents": ["agent", "signal", "cost"],
    "billing": [
        "outcomedefinition",
        "outcomecriterion",
        "priceagreement",
        "price",
        "pricetier",
        "exchangerate",
    ],
}
FINANCE_EXTRA = {"billing": ["exchangerate"]}


def _perms(apps, models: dict[str, list[str]], actions) -> list:
    Permission = apps.get_model("auth", "Permission")
    codenames = [
        f"{action}_{model}" for app, names in models.items() for model in names for action in actions
    ]
    apps_labels = list(models)
    return list(
        Permission.objects.filter(content_type__app_label__in=apps_labels, codename__in=codenames)
    )


def create_groups(apps, schema_editor):
    # Permissions are normally created after migrating; make sure they exist now.
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for label in ("customers", "agents", "billing"):
        create_permissions(global_apps.get_app_config(label), verbosity=0)

    Group = apps.get_model("auth", "Group")
    view = _perms(apps, READ_MODELS, ("view",))
    manage = _perms(apps, ACCOUNT_MANAGER_MODELS, EDIT)
    finance = _perms(apps, FINANCE_EXTRA, EDIT)

    managers, _ = Group.objects.get_or_create(name="Account managers")
    managers.permissions.add(*view, *manage)
    fin, _ = Group.objects.get_or_create(name="Finance")
    fin.permissions.add(*view, *manage, *finance)
    viewers, _ = Group.objects.get_or_create(name="Viewers")
    viewers.permissions.add(*view)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=["Account managers", "Finance", "Viewers"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_no_overlapping_agreements"),
        ("agents", "0001_initial"),
        ("customers", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
