"""Exchange rates kept by Finance."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from billing.money import format_quantity
from customers.currencies import CURRENCY_CHOICES, validate_currency_code
from customers.models import currency_check


class ExchangeRate(models.Model):
    """1 unit of base_currency = rate units of quote_currency, from effective_on on."""

    base_currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, validators=[validate_currency_code]
    )
    quote_currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, validators=[validate_currency_code]
    )
    rate = models.DecimalField(
        max_digits=24,
        decimal_places=12,
        validators=[MinValueValidator(Decimal("0.000000000001"))],
        help_text="How many units of the quote currency one unit of the base buys.",
    )
    effective_on = models.DateField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["base_currency", "quote_currency", "-effective_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["base_currency", "quote_currency", "effective_on"],
                name="fx_one_rate_per_pair_per_day",
            ),
            models.CheckConstraint(condition=Q(rate__gt=0), name="fx_rate_positive"),
            models.CheckConstraint(
                condition=~Q(base_currency=models.F("quote_currency")), name="fx_distinct_pair"
            ),
            currency_check("base_currency", "fx_base_iso4217"),
            currency_check("quote_currency", "fx_quote_iso4217"),
        ]

    def __str__(self) -> str:
        rate = format_quantity(self.rate)
        return f"1 {self.base_currency} = {rate} {self.quote_currency} ({self.effective_on})"
