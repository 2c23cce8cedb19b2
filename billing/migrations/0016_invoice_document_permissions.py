"""Who may do what with invoice documents: everyone reads them; Finance keeps the
seller profile and tax rates, records payments and resends invoices; account managers
keep customers' billing details and contacts."""

from django.db import migrations

VIEW = {
    "billing": [
        "sellerprofile",
        "taxrate",
        "invoicetax",
        "payment",
        "invoicedelivery",
        "invoicedocument",
    ],
    "customers": ["contact"],
}
ACCOUNT_MANAGERS = {"customers": ["add_contact", "change_contact", "delete_contact"]}
FINANCE = {
    "billing": [
        "add_sellerprofile",
        "change_sellerprofile",
        "add_taxrate",
        "change_taxrate",
        "add_payment",
        "resend_invoice",
    ],
    "customers": ["add_contact", "change_contact", "delete_contact"],
}


def _perms(apps, codenames: dict[str, list[str]]) -> list:
    Permission = apps.get_model("auth", "Permission")
    return [
        perm
        for app, names in codenames.items()
        for perm in Permission.objects.filter(content_type__app_label=app, codename__in=names)
    ]


def forwards(apps, schema_editor):
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for label in ("customers", "billing"):
        create_permissions(global_apps.get_app_config(label), verbosity=0)
    Group = apps.get_model("auth", "Group")
    view = _perms(apps, {app: [f"view_{m}" for m in models] for app, models in VIEW.items()})
    for name, extra in (
        ("Account managers", ACCOUNT_MANAGERS),
        ("Finance", FINANCE),
        ("Viewers", {}),
    ):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*view, *_perms(apps, extra))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0015_invoice_constraints"),
        ("customers", "0003_invoice_documents"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
