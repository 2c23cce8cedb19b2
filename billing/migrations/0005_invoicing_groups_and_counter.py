from django.db import migrations


def forwards(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    create_permissions(global_apps.get_app_config("billing"), verbosity=0)
    apps.get_model("billing", "InvoiceCounter").objects.get_or_create(pk=1)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(
        content_type__app_label="billing",
        codename__in=["view_billingperiod", "view_invoice", "view_invoiceline"],
    )
    finance_only = Permission.objects.filter(
        content_type__app_label="billing",
        codename__in=["change_billingperiod", "void_invoice"],
    )
    for name in ("Account managers", "Finance", "Viewers"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*view)
        if name == "Finance":
            group.permissions.add(*finance_only)


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_invoicing"), ("billing", "0003_groups")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
