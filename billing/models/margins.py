"""Margins: what each deal earned and cost, per period x customer x agent x outcome."""

from django.db import models

from billing.models.invoices import Invoice
from billing.money import MONEY, format_percent


class MarginFigureQuerySet(models.QuerySet):
    def live(self):
        """Figures of issued invoices (a void invoice's figures are replaced)."""
        return self.filter(invoice__status__in=Invoice.Status.live())


class MarginFigure(models.Model):
    """Stored when a period closes (history stays fast and stable); the same figures are
    computed live for an open period. Amounts are in the agreement's currency, and in
    the reporting currency for the dashboard's totals across customers."""

    period = models.ForeignKey(
        "billing.BillingPeriod", on_delete=models.CASCADE, related_name="margins"
    )
    invoice = models.ForeignKey("billing.Invoice", on_delete=models.CASCADE, related_name="margins")
    agreement = models.ForeignKey(
        "billing.PriceAgreement", on_delete=models.CASCADE, related_name="margins"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="margins"
    )
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="margins")
    outcome_definition = models.ForeignKey(
        "billing.OutcomeDefinition", on_delete=models.PROTECT, related_name="margins"
    )
    currency = models.CharField(max_length=3)
    successes = models.PositiveIntegerField(default=0)
    partials = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    disputed = models.PositiveIntegerField(
        default=0, help_text="Outcomes whose dispute was accepted: not charged."
    )
    revenue_outcomes = models.DecimalField(**MONEY, default=0)
    revenue_allocated = models.DecimalField(
        **MONEY,
        default=0,
        help_text="Share of platform fee, true-up, cap discount and adjustments, in "
        "proportion to outcome revenue.",
    )
    revenue_credited = models.DecimalField(
        **MONEY,
        default=0,
        help_text="What credit notes of the invoice credited on this outcome's lines (and "
        "its share of the other lines' credits), taken out of the revenue.",
    )
    revenue = models.DecimalField(**MONEY, default=0)
    cost = models.DecimalField(**MONEY, default=0)
    cost_by_category = models.JSONField(default=dict)
    cost_by_model = models.JSONField(default=dict)
    cost_of_failures = models.DecimalField(**MONEY, default=0)
    cost_of_disputes = models.DecimalField(
        **MONEY,
        default=0,
        help_text="Cost of the outcomes whose dispute was accepted (kept in the cost, like "
        "the cost of failures).",
    )
    margin = models.DecimalField(**MONEY, default=0)
    margin_percent = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    reporting_currency = models.CharField(max_length=3)
    revenue_reporting = models.DecimalField(**MONEY, null=True, blank=True)
    cost_reporting = models.DecimalField(**MONEY, null=True, blank=True)
    unpriced_costs = models.PositiveIntegerField(
        default=0,
        help_text="Costs without an amount (traced calls to models the price catalogue does "
        "not know): left out of the cost, so the cost is understated.",
    )
    incomplete = models.BooleanField(default=False)
    missing_rates = models.CharField(
        max_length=300, blank=True, help_text="Currency pairs without an exchange rate."
    )
    below_target = models.BooleanField(default=False)

    objects = MarginFigureQuerySet.as_manager()

    class Meta:
        ordering = ["-period__starts_at", "customer__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "outcome_definition"], name="margin_one_per_invoice_outcome"
            ),
        ]
        indexes = [
            models.Index(fields=["period"], name="margin_period_idx"),
            models.Index(fields=["customer", "agent"], name="margin_customer_agent_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.customer_id}/{self.outcome_definition_id} {format_percent(self.margin_percent)}"
        )


class MarginAlert(models.Model):
    """A deal below its margin target, alerted once per period and threshold."""

    agreement = models.ForeignKey(
        "billing.PriceAgreement", on_delete=models.CASCADE, related_name="margin_alerts"
    )
    period = models.ForeignKey(
        "billing.BillingPeriod", on_delete=models.CASCADE, related_name="margin_alerts"
    )
    threshold = models.DecimalField(max_digits=5, decimal_places=2)
    margin_percent = models.DecimalField(max_digits=9, decimal_places=2, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "threshold"], name="alert_once_per_period_and_threshold"
            ),
        ]

    def __str__(self) -> str:
        percent, target = format_percent(self.margin_percent), format_percent(self.threshold)
        return f"{self.agreement} {percent} < {target}"
