"""What a customer pays: price agreements, their prices and tiers."""

from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from billing.models.outcomes import OutcomeDefinition
from billing.money import MONEY, format_money, format_quantity
from billing.pricing import PricingModel
from customers.currencies import CURRENCY_CHOICES, validate_currency_code
from customers.models import currency_check

NON_NEGATIVE = [MinValueValidator(0)]


class Cadence(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    ANNUAL = "annual", "Annual"


class PriceAgreement(models.Model):
    """What one customer pays, edited by account managers. Changes are audited."""

    Cadence = Cadence

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="agreements"
    )
    name = models.CharField(max_length=200)
    currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, default="USD", validators=[validate_currency_code]
    )
    starts_on = models.DateField()
    ends_on = models.DateField(
        null=True, blank=True, help_text="Last day covered (inclusive). Empty: no end."
    )
    cadence = models.CharField(max_length=10, choices=Cadence.choices, default=Cadence.MONTHLY)
    platform_fee = models.DecimalField(
        validators=NON_NEGATIVE, **MONEY, default=Decimal(0), help_text="Charged every period."
    )
    minimum_commitment = models.DecimalField(
        validators=NON_NEGATIVE,
        **MONEY,
        default=Decimal(0),
        help_text="Least a period is invoiced for outcomes; the shortfall is a true-up line.",
    )
    spend_cap = models.DecimalField(
        validators=NON_NEGATIVE,
        **MONEY,
        null=True,
        blank=True,
        help_text="Most a period is invoiced; the excess is a discount line. Empty: no cap.",
    )
    grace_period = models.DurationField(
        default=timedelta(hours=24),
        help_text="How long after a period ends late signals are waited for before closing.",
    )
    payment_terms_days = models.PositiveSmallIntegerField(
        default=30,
        help_text="Days from issue to due date (the customer's own terms win, if set).",
    )
    tax_rate = models.ForeignKey(
        "billing.TaxRate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Tax of its invoice lines, unless a price has its own (empty: the "
        "customer's rate). A customer's reverse-charge or exempt rate always wins.",
    )
    dispute_window_days = models.PositiveSmallIntegerField(
        default=30,
        help_text="Days after an invoice's issue in which the customer may dispute its "
        "outcomes from the statement link (account managers may open disputes any time).",
    )
    # No database check: SQLite would rebuild the table and lose its overlap triggers;
    # a negative limit would only ever accept nothing.
    dispute_auto_accept_up_to = models.DecimalField(
        **MONEY,
        validators=NON_NEGATIVE,
        null=True,
        blank=True,
        help_text="Accept a dispute from the statement at once when what it credits (net) "
        "is at most this amount; empty: every dispute waits for an account manager.",
    )
    margin_target = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Margin % below which the deal is flagged, e.g. 40.",
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer__name", "-starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="agreement_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(platform_fee__gte=0), name="agreement_platform_fee_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(minimum_commitment__gte=0), name="agreement_minimum_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(spend_cap__isnull=True) | Q(spend_cap__gt=0),
                name="agreement_spend_cap_positive",
            ),
            models.CheckConstraint(
                condition=Q(grace_period__gte=timedelta(0)), name="agreement_grace_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(margin_target__isnull=True)
                | Q(margin_target__gte=-100, margin_target__lte=100),
                name="agreement_margin_target_range",
            ),
            models.CheckConstraint(
                condition=Q(cadence__in=Cadence.values),
                name="agreement_cadence_valid",
            ),
            currency_check("currency", "agreement_currency_iso4217"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.ends_on and self.starts_on and self.ends_on < self.starts_on:
            errors["ends_on"] = "The end date must be on or after the start date."
        if (
            self.spend_cap is not None
            and self.minimum_commitment
            and self.spend_cap < self.minimum_commitment
        ):
            errors["spend_cap"] = "The spend cap cannot be below the minimum commitment."
        if errors:
            raise ValidationError(errors)


class Price(models.Model):
    """The price of one outcome definition within an agreement."""

    Model = PricingModel

    TIERED = (Model.GRADUATED, Model.VOLUME)

    agreement = models.ForeignKey(PriceAgreement, on_delete=models.CASCADE, related_name="prices")
    outcome_definition = models.ForeignKey(
        OutcomeDefinition, on_delete=models.PROTECT, related_name="prices"
    )
    model = models.CharField(max_length=20, choices=Model.choices, default=Model.PER_OUTCOME)
    unit_price = models.DecimalField(
        validators=NON_NEGATIVE,
        **MONEY,
        null=True,
        blank=True,
        help_text="Per outcome: the price of one outcome.",
    )
    percent_of_value = models.DecimalField(
        validators=NON_NEGATIVE,
        max_digits=9,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Percent of value: e.g. 8 charges 8% of the value field.",
    )
    value_field = models.CharField(
        max_length=200, blank=True, help_text="Percent of value: data field, e.g. recovered_amount."
    )
    markup_percent = models.DecimalField(
        max_digits=9,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Cost plus: e.g. 30 charges attributed cost × 1.30.",
    )
    included_quantity = models.DecimalField(
        validators=NON_NEGATIVE, **MONEY, default=Decimal(0), help_text="Free outcomes per period."
    )
    tax_rate = models.ForeignKey(
        "billing.TaxRate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only if this outcome is taxed differently from the agreement.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["agreement", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "outcome_definition"],
                name="price_one_per_outcome_per_agreement",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__isnull=True) | Q(unit_price__gte=0),
                name="price_unit_price_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(percent_of_value__isnull=True) | Q(percent_of_value__gte=0),
                name="price_percent_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(markup_percent__isnull=True) | Q(markup_percent__gte=-100),
                name="price_markup_not_below_minus_100",
            ),
            models.CheckConstraint(
                condition=Q(included_quantity__gte=0), name="price_included_non_negative"
            ),
            models.CheckConstraint(
                condition=~Q(model=PricingModel.PER_OUTCOME) | Q(unit_price__isnull=False),
                name="price_per_outcome_has_unit_price",
            ),
            models.CheckConstraint(
                condition=~Q(model=PricingModel.PERCENT_OF_VALUE)
                | (Q(percent_of_value__isnull=False) & ~Q(value_field="")),
                name="price_percent_has_rate_and_field",
            ),
            models.CheckConstraint(
                condition=~Q(model=PricingModel.COST_PLUS) | Q(markup_percent__isnull=False),
                name="price_cost_plus_has_markup",
            ),
            models.CheckConstraint(
                condition=Q(model__in=PricingModel.values),
                name="price_model_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.outcome_definition.name}: {self.get_model_display()}"

    def clean(self) -> None:
        errors = {}
        if self.model == self.Model.PER_OUTCOME and self.unit_price is None:
            errors["unit_price"] = "A per-outcome price needs a unit price."
        if self.model == self.Model.PERCENT_OF_VALUE:
            if self.percent_of_value is None:
                errors["percent_of_value"] = "Give the percent of the value to charge, e.g. 8."
            if not self.value_field:
                errors["value_field"] = (
                    "Name the data field holding the value, e.g. recovered_amount."
                )
        if self.model == self.Model.COST_PLUS and self.markup_percent is None:
            errors["markup_percent"] = "Give the markup in percent, e.g. 30 (0 bills cost as is)."
        if errors:
            raise ValidationError(errors)


class PriceTier(models.Model):
    """The quantities above from_quantity up to and including up_to_quantity (the first
    tier from 0 included) at one unit price: billing.pricing.Tier."""

    price = models.ForeignKey(Price, on_delete=models.CASCADE, related_name="tiers")
    from_quantity = models.DecimalField(
        "above",
        validators=NON_NEGATIVE,
        **MONEY,
        default=Decimal(0),
        help_text="The tier starts above this quantity: the tier before's “up to” (the "
        "first tier: 0, and 0 itself is in it).",
    )
    up_to_quantity = models.DecimalField(
        "up to (included)",
        validators=NON_NEGATIVE,
        **MONEY,
        null=True,
        blank=True,
        help_text="The last quantity in the tier, included: up to 100 puts the 100th outcome "
        "in this tier. Empty: no limit (last tier).",
    )
    unit_price = models.DecimalField(**MONEY, validators=NON_NEGATIVE)
    history = HistoricalRecords()

    class Meta:
        ordering = ["price", "from_quantity"]
        constraints = [
            models.UniqueConstraint(fields=["price", "from_quantity"], name="tier_unique_start"),
            models.CheckConstraint(
                condition=Q(from_quantity__gte=0), name="tier_from_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(up_to_quantity__isnull=True)
                | Q(up_to_quantity__gt=models.F("from_quantity")),
                name="tier_up_to_after_from",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="tier_unit_price_non_negative"
            ),
        ]

    def __str__(self) -> str:
        bounds = []
        if self.from_quantity:
            bounds.append(f"above {format_quantity(self.from_quantity)}")
        if self.up_to_quantity is not None:
            bounds.append(f"up to {format_quantity(self.up_to_quantity)}")
        return f"{' '.join(bounds) or 'any quantity'} @ {format_money(self.unit_price)}"
