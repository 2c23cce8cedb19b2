"""The marks that say which invoice billed a signal, and as what."""

from django.db import models
from django.db.models import Q

from billing.models.invoices import BillingPeriod, Invoice
from billing.money import MONEY


class MarkOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    PARTIAL = "partial", "Partial"
    FAILURE = "failure", "Failure"
    # An outcome whose dispute was accepted: never charged, its cost shown apart.
    DISPUTED = "disputed", "Disputed (accepted, not charged)"


class BilledSignal(models.Model):
    """Which invoice processed a signal, and as what. A signal is processed once.

    Marking what was billed (instead of a received_at watermark) is what makes late
    signals exact: transactions commit out of order, marks do not care.
    """

    Outcome = MarkOutcome

    # The signal is the key: one mark per signal, and the unique index closing relies on
    # (INSERT ... ON CONFLICT DO NOTHING skips signals marked already).
    #
    # No column here is a database foreign key: PostgreSQL checks a key once per inserted
    # row, 14 ms per 1,000 marks for each key (measured), and for the signal it also locks
    # and rewrites every signal row billed. What a mark names is kept all the same: signals
    # are never deleted (a PostgreSQL trigger refuses it, migration 0011), an invoice is
    # referenced by its lines, a price by its invoice lines, a period by its invoices, a
    # definition by its prices; and the ORM protects each as declared below.
    signal = models.OneToOneField(
        "agents.Signal",
        on_delete=models.PROTECT,
        related_name="billing_mark",
        primary_key=True,
        db_constraint=False,
    )
    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, related_name="marks", db_index=False, db_constraint=False
    )
    period = models.ForeignKey(
        BillingPeriod,
        on_delete=models.PROTECT,
        related_name="marks",
        db_index=False,
        db_constraint=False,
        help_text="The period the signal belongs to (by occurred_at).",
    )
    price = models.ForeignKey(
        "billing.Price",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    outcome_definition = models.ForeignKey(
        "billing.OutcomeDefinition",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    workflow_id = models.CharField(max_length=200, null=True, blank=True)
    per_workflow = models.BooleanField(default=False)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    fraction = models.DecimalField(max_digits=12, decimal_places=8)
    value = models.DecimalField(**MONEY, null=True, blank=True)
    counted = models.BooleanField(
        help_text="Charged as an outcome (a success or partial, and for per-workflow "
        "outcomes the first of its workflow)."
    )

    class Meta:
        constraints = [
            # Per-workflow outcomes are counted at most once per workflow, ever.
            models.UniqueConstraint(
                fields=["outcome_definition", "workflow_id"],
                condition=Q(counted=True, per_workflow=True, workflow_id__isnull=False),
                name="mark_one_counted_outcome_per_workflow",
            ),
            models.CheckConstraint(
                condition=Q(fraction__gte=0, fraction__lte=1), name="mark_fraction_0_1"
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=MarkOutcome.values),
                name="mark_outcome_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["invoice", "price", "period"], name="mark_line_idx"),
            # A workflow with a disputed outcome is never counted again (rating).
            models.Index(
                fields=["outcome_definition", "workflow_id"],
                condition=Q(outcome=MarkOutcome.DISPUTED),
                name="mark_disputed_workflow_idx",
            ),
            models.Index(fields=["price", "period"], name="mark_price_period_idx"),
        ]

    def __str__(self) -> str:
        return f"signal {self.signal_id}: {self.outcome}"
