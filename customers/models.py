from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from customers.countries import COUNTRY_CODES, validate_country_code
from customers.currencies import CURRENCY_CHOICES, validate_currency_code
from customers.tax_ids import tax_id_check

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


def address_lines(obj) -> list[str]:
    """An address's printed lines (a customer's or the seller's): street lines, then
    postal code, city and region; the country is printed apart."""
    city = " ".join(p for p in (obj.address_postal_code, obj.address_city) if p)
    if obj.address_state:
        city = f"{city}, {obj.address_state}" if city else obj.address_state
    return [line for line in (obj.address_line1, obj.address_line2, city) if line]


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
    billing_email = models.EmailField(
        help_text="The primary billing contact: invoices are sent here, and to the "
        "contacts marked “billing”."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    churned_at = models.DateTimeField(
        null=True, blank=True, help_text="When the customer churned (Paid's churnDate)."
    )
    legal_name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    website = models.CharField(max_length=200, blank=True)
    vat_number = models.CharField(
        max_length=50,
        blank=True,
        verbose_name="tax / VAT id",
        help_text="Checked by its country's format and checksum where one exists.",
    )
    address_line1 = models.CharField("address line 1", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    address_city = models.CharField("city", max_length=100, blank=True)
    address_state = models.CharField("state or region", max_length=100, blank=True)
    address_postal_code = models.CharField("postal code", max_length=20, blank=True)
    address_country = country_field()
    tax_rate = models.ForeignKey(
        "billing.TaxRate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Tax of the customer's invoices where agreements set none; a "
        "reverse-charge or exempt rate applies to all of them.",
    )
    payment_terms_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Days from issue to due date for this customer; empty: the agreement's.",
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

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

    def clean(self):
        super().clean()
        error = tax_id_check(self.vat_number, self.address_country)
        if error:
            raise ValidationError({"vat_number": error})

    @property
    def billing_emails(self) -> list[str]:
        """Who receives invoices: the primary address, then billing contacts (no repeats)."""
        emails = [self.billing_email] if self.billing_email else []
        for contact in self.contacts.all():
            if contact.billing and contact.email.lower() not in {e.lower() for e in emails}:
                emails.append(contact.email)
        return emails

    def details(self) -> dict:
        """What an invoice prints of the buyer, kept on the invoice at issue."""
        return {
            "legal_name": self.legal_name or self.name,
            "external_id": self.external_id,
            "address": address_lines(self),
            "country": self.address_country,
            "tax_id": self.vat_number,
            "email": self.billing_email,
        }


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
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["customer", "last_name", "first_name", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(external_id=""), name="contact_external_id_set"),
            country_check("address_country", "contact_country_iso3166"),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} <{self.email}>" if name else self.email
