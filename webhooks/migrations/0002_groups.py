"""Who may do what with webhooks: Finance keeps endpoints (and sees each secret once) and
replays events; account managers read endpoints, events, deliveries and attempts; other
staff (Viewers included) see nothing of them."""

from django.db import migrations

READ = ["view_endpoint", "view_event", "view_delivery", "view_attempt"]
FINANCE = [*READ, "add_endpoint", "change_endpoint", "delete_endpoint", "replay_event"]
ACCOUNT_MANAGERS = READ


def forwards(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    create_permissions(global_apps.get_app_config("webhooks"), verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in (("Finance", FINANCE), ("Account managers", ACCOUNT_MANAGERS)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="webhooks", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("billing", "0003_groups"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
