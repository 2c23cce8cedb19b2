"""Disputes: a mark outcome "disputed" (accepted, never charged), margin figures that
show disputed outcomes, their cost and the revenue credit notes took out, and who may
do what: account managers open disputes; Finance accepts or rejects them (accepting
issues the credit note, which is Finance's); viewers read them."""

from django.db import migrations, models

VIEW = ["view_dispute", "view_disputedoutcome"]
GROUPS = {
    "Account managers": [*VIEW, "add_dispute"],
    "Finance": [*VIEW, "resolve_dispute"],
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
    dependencies = [
        ("agents", "0005_agent_updated_at"),
        ("billing", "0019_credit_note_documents"),
    ]

    operations = [
        migrations.AddField(
            model_name="disputedoutcome",
            name="billed_outcome",
            field=models.CharField(blank=True, max_length=10),
        ),
        migrations.AddField(
            model_name="disputedoutcome",
            name="billed_counted",
            field=models.BooleanField(blank=True, null=True),
        ),
        migrations.RemoveConstraint(
            model_name="billedsignal",
            name="mark_outcome_valid",
        ),
        migrations.AddField(
            model_name="marginfigure",
            name="cost_of_disputes",
            field=models.DecimalField(
                decimal_places=8,
                default=0,
                help_text="Cost of the outcomes whose dispute was accepted (kept in the cost, like the cost of failures).",
                max_digits=20,
            ),
        ),
        migrations.AddField(
            model_name="marginfigure",
            name="disputed",
            field=models.PositiveIntegerField(
                default=0, help_text="Outcomes whose dispute was accepted: not charged."
            ),
        ),
        migrations.AddField(
            model_name="marginfigure",
            name="revenue_credited",
            field=models.DecimalField(
                decimal_places=8,
                default=0,
                help_text="What credit notes of the invoice credited on this outcome's lines (and its share of the other lines' credits), taken out of the revenue.",
                max_digits=20,
            ),
        ),
        migrations.AlterField(
            model_name="billedsignal",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("success", "Success"),
                    ("partial", "Partial"),
                    ("failure", "Failure"),
                    ("disputed", "Disputed (accepted, not charged)"),
                ],
                max_length=10,
            ),
        ),
        migrations.AddConstraint(
            model_name="billedsignal",
            constraint=models.CheckConstraint(
                condition=models.Q(("outcome__in", ["success", "partial", "failure", "disputed"])),
                name="mark_outcome_valid",
            ),
        ),
        migrations.AddIndex(
            model_name="billedsignal",
            index=models.Index(
                condition=models.Q(("outcome", "disputed")),
                fields=["outcome_definition", "workflow_id"],
                name="mark_disputed_workflow_idx",
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
