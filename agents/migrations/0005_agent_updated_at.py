from django.db import migrations, models
from django.db.models import F


def updated_when_created(apps, schema_editor):
    # An agent changed before this field existed shows its creation time, not the migration's.
    apps.get_model("agents", "Agent").objects.update(updated_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0004_traced_costs"),
    ]

    operations = [
        migrations.AddField(
            model_name="agent",
            name="updated_at",
            field=models.DateTimeField(auto_now=True),
        ),
        migrations.RunPython(updated_when_created, migrations.RunPython.noop),
    ]
