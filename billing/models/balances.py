"""Budgets, the alerts they raise, and the live balance the API serves (computed by
billing/balances.py, refreshed by beat)."""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from billing.money import MONEY


class Budget(models.Model):
    """A customer's spend limit per period, or "credits only"; soft budgets alert at
    50/80/100%, hard ones also make the balance endpoint answer `allowed: false`.
    Signals are accepted either way and billed as overage."""

    class Limit(models.TextChoices):
        SPEND = "spend", "Spend limit per period"
        CREDITS_ONLY = "credits_only", "Credits only"

    class Enforcement(models.TextChoices):
        SOFT = "soft", "Soft (alerts only)"
        HARD = "hard", "Hard (balance says not allowed)"

    THRESHOLDS = (50, 80, 100)

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="budget"
    )
    limit = models.CharField(max_length=12, choices=Limit.choices, default=Limit.SPEND)
    amount = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="Spend limits: the most a period may charge."
    )
    enforcement = models.CharField(
        max_length=4, choices=Enforcement.choices, default=Enforcement.SOFT
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(limit="spend", amount__gt=0)
                | Q(limit="credits_only", amount__isnull=True),
                name="budget_amount_iff_spend_limit",
            ),
            models.CheckConstraint(
                condition=Q(enforcement__in=["soft", "hard"]), name="budget_enforcement_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Budget of {self.customer}"

    def measure(
        self, *, spend_period: Decimal, granted: Decimal, remaining: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        """(used, limit) its thresholds are measured on: the current period's spend
        against the amount, or the money credits used against those granted. None when
        a credits-only budget has no money credits to measure."""
        if self.limit == self.Limit.SPEND:
            return spend_period, self.amount
        if granted <= 0:
            return None
        return granted - remaining, granted

    def allows(self, *, spend_period: Decimal, credits_left: bool) -> bool:
        """A soft budget allows everything; a hard one stops at its spend limit, or, when
        credits only, once no credit of any kind is left."""
        if self.enforcement != self.Enforcement.HARD:
            return True
        if self.limit == self.Limit.SPEND:
            return spend_period < self.amount
        return credits_left


class BudgetAlert(models.Model):
    """A threshold crossed by a customer in one period: raised once (a unique key)."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period_starts_at = models.DateTimeField()
    threshold = models.PositiveSmallIntegerField()
    used = models.DecimalField(**MONEY)
    limit = models.DecimalField(**MONEY)
    raised_at = models.DateTimeField()
    emailed_at = models.DateTimeField(
        null=True, blank=True, help_text="When Finance was e-mailed; empty until it worked."
    )
    email_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_starts_at", "threshold"],
                name="budget_alert_once_per_threshold_period",
            )
        ]

    def __str__(self) -> str:
        return f"{self.budget.customer}: {self.threshold}% of {self.period_starts_at:%Y-%m-%d}"


class CustomerBalance(models.Model):
    """The live balance the API serves, refreshed by beat (served while checked within
    BALANCE_LAG_SECONDS; a request finding it older computes the balance at once without
    storing it). Money figures are in the customer's currency; outcome grants are listed
    in `grants`. What each figure means: billing/balances.py."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="balance"
    )
    currency = models.CharField(max_length=3)
    granted = models.DecimalField(**MONEY, default=Decimal(0))
    used_closed = models.DecimalField(**MONEY, default=Decimal(0))
    used_open = models.DecimalField(**MONEY, default=Decimal(0))
    remaining = models.DecimalField(**MONEY, default=Decimal(0))
    spend_open = models.DecimalField(**MONEY, default=Decimal(0))
    overage_open = models.DecimalField(**MONEY, default=Decimal(0))
    spend_period = models.DecimalField(
        **MONEY,
        default=Decimal(0),
        help_text="Charges of the current period(s) alone: what a spend limit measures.",
    )
    period_starts_at = models.DateTimeField(null=True, blank=True)
    period_ends_at = models.DateTimeField(null=True, blank=True)
    grants = models.JSONField(default=list, blank=True)
    signals_seen = models.BigIntegerField(default=0, help_text="Highest signal id counted.")
    costs_seen = models.BigIntegerField(default=0, help_text="Highest cost id counted.")
    signals_count = models.BigIntegerField(
        default=0, help_text="How many signals the customer had when it was computed."
    )
    inputs_digest = models.CharField(
        max_length=32,
        blank=True,
        help_text="A digest of the other rows it was computed from (balance_inputs.py); "
        "empty when it can only be recomputed (cost-plus prices).",
    )
    valid_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When time alone changes it: a period ends, an agreement starts, a grant "
        "takes effect or expires. Empty: never.",
    )
    computed_at = models.DateTimeField()
    checked_at = models.DateTimeField(
        help_text="When the figures were last known exact: computed, or found with none "
        "of their inputs changed since. What the API's as_of and age are."
    )

    def __str__(self) -> str:
        return f"Balance of {self.customer}"
