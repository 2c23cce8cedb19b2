"""Invoices issued before keep their numbers ("9"), as sequence 9 of year 0, the series
every number had; their total had no tax: net = total. Its own migration (transaction):
on PostgreSQL the updates leave deferred foreign-key checks pending, and the table's
constraints are then added by the next migration."""

from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Cast


def existing_invoices_keep_numbers(apps, schema_editor):
    Invoice = apps.get_model("billing", "Invoice")
    Invoice.objects.filter(number__isnull=False).update(
        sequence=Cast("number", models.BigIntegerField()), sequence_year=0
    )
    Invoice.objects.update(net=F("total"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0013_invoice_documents")]
    operations = [migrations.RunPython(existing_invoices_keep_numbers, migrations.RunPython.noop)]
