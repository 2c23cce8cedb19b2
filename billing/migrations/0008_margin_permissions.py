from django.db import migrations

VIEW = ["view_marginfigure", "view_marginalert", "view_webhookdelivery"]


def forwards(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    create_permissions(global_apps.get_app_config("billing"), verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = list(Permission.objects.filter(content_type__app_label="billing", codename__in=VIEW))
    for name in ("Account managers", "Finance", "Viewers"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*view)


class Migration(migrations.Migration):
    dependencies = [("billing", "0007_margins")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
