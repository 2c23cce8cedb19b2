from django.db import models
from django.db.models import Q

from customers.countries import COUNTRY_CODES, validate_country_code
from customers.currencies import CURRENCY_CHOICES, validate_currency_code

CURRENCY_CODES = [code for code, _ in CURRENCY_CHOICES]


def currency_check(field: str, name: str) -> models.CheckConstraint:
    """A database check that `field` holds an ISO 4217 code money can be billed in."""
    return models.CheckConstraint(condition=Q(**{f"{field}__in": CURRENCY_CODES}), name=name)


def country_check(field: str, name: str) -> models.CheckConstraint:
    """A database check that `field` is empty or an ISO 3166-1 alpha-2 code."""
    return models.CheckConstraint(
        condition=Q(**{field: ""}) | Q(**{f"{field}__in": sorted(COUNTRY_CODES)}), name=name
    )


def country_field() -> models.CharField:
    return models.CharField(
        max_length=2,
        blank=True,
        validators=[validate_country_code],
        help_text="ISO 3166-1 alpha-2, e.g. US.",
    )


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
    churned_at = models.DateTimeField(
        null=True, blank=True, help_text="When the customer churned (Paid's churnDate)."
    )
    legal_name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    website = models.CharField(max_length=200, blank=True)
    vat_number = models.CharField(max_length=50, blank=True, verbose_name="VAT number")
    address_line1 = models.CharField("address line 1", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    address_city = models.CharField("city", max_length=100, blank=True)
    address_state = models.CharField("state or region", max_length=100, blank=True)
    address_postal_code = models.CharField("postal code", max_length=20, blank=True)
    address_country = country_field()
    metadata = models.JSONField(default=dict, blank=True)
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
            country_check("address_country", "customer_country_iso3166"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class Contact(models.Model):
    """A person at a customer (Paid's contact): who receives invoices or pays them."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    external_id = models.CharField(
        max_length=200, unique=True, null=True, blank=True, help_text="Your own id, optional."
    )
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField()
    phone = models.CharField(max_length=50, blank=True)
    address_street = models.CharField("street", max_length=200, blank=True)
    address_city = models.CharField("city", max_length=100, blank=True)
    address_state = models.CharField("state or region", max_length=100, blank=True)
    address_postal_code = models.CharField("postal code", max_length=20, blank=True)
    address_country = country_field()
    billing = models.BooleanField(default=False, help_text="Receives invoices (role BILLING).")
    accounts_payable = models.BooleanField(
        default=False, help_text="Pays invoices (role ACCOUNTS_PAYABLE)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer", "last_name", "first_name", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(external_id=""), name="contact_external_id_set"),
            country_check("address_country", "contact_country_iso3166"),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} <{self.email}>" if name else self.email
