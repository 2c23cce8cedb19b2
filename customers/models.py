from django.db import models
from django.db.models import Q

from customers.currencies import CURRENCY_CHOICES, validate_currency_code

CURRENCY_CODES = [code for code, _ in CURRENCY_CHOICES]


def currency_check(field: str, name: str) -> models.CheckConstraint:
    """A database check that `field` holds an ISO 4217 code money can be billed in."""
    return models.CheckConstraint(condition=Q(**{f"{field}__in": CURRENCY_CODES}), name=name)


class Customer(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CHURNED = "churned", "Churned"

    external_id = models.CharField(
        max_length=200,
        unique=True,
        help_text="The id agents send as customer_id (e.g. cus_42).",
    )
    name = models.CharField(max_length=200)
    currency = models.CharField(
        max_length=3,
        choices=CURRENCY_CHOICES,
        default="USD",
        validators=[validate_currency_code],
        help_text="ISO 4217 currency the customer is invoiced in.",
    )
    billing_email = models.EmailField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            currency_check("currency", "customer_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(status__in=["active", "churned"]), name="customer_status_valid"
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="customer_external_id_set"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"
