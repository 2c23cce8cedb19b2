"""Who issues the invoices (one seller profile per installation) and the tax rates they
charge. Both are printed on every invoice; an invoice keeps a copy of what it printed."""

import string

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from customers.models import address_lines, country_check, country_field
from customers.tax_ids import tax_id_check

DEFAULT_NUMBER_FORMAT = "INV-{year}-{seq:06d}"
DEFAULT_CREDIT_NOTE_FORMAT = "CN-{year}-{seq:06d}"
NUMBER_FIELDS = {"year", "seq"}
LOGO_TYPES = {"image/png", "image/jpeg"}
LOGO_MAX_BYTES = 512 * 1024


def number_format_fields(value: str) -> set[str]:
    """The fields a format fills ({{year}} is a literal, not a field)."""
    return {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}


def number_format_check(value: str) -> None:
    """A format Python's str.format fills with the issue year and the sequence number."""

    def refuse(exc):
        return ValidationError(
            f"“{value}” is not a number format ({exc}); use e.g. {DEFAULT_NUMBER_FORMAT}."
        )

    try:
        fields = number_format_fields(value)
    except ValueError as exc:
        raise refuse(exc) from None
    if fields - NUMBER_FIELDS:
        unknown = ", ".join(sorted("{" + f + "}" for f in fields - NUMBER_FIELDS))
        raise ValidationError(f"Only {{year}} and {{seq}} may be used, not {unknown}.")
    if "seq" not in fields:
        raise ValidationError("The number format needs {seq} (e.g. {seq:06d}).")
    try:
        example = value.format(year=2026, seq=1)
    except (ValueError, IndexError, KeyError) as exc:
        raise refuse(exc) from None
    if len(example) > 30:
        raise ValidationError("Numbers in this format are longer than 30 characters.")


class SellerProfile(models.Model):
    """The company that issues the invoices: one row (pk 1), audited. Closing refuses to
    issue an invoice while a field a legal invoice needs is empty (`missing`)."""

    legal_name = models.CharField(max_length=200, blank=True)
    address_line1 = models.CharField("address line 1", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    address_city = models.CharField("city", max_length=100, blank=True)
    address_state = models.CharField("state or region", max_length=100, blank=True)
    address_postal_code = models.CharField("postal code", max_length=20, blank=True)
    address_country = country_field()
    tax_id = models.CharField(
        "tax / VAT id",
        max_length=50,
        blank=True,
        help_text="Checked by its country's format and checksum where one exists.",
    )
    registration_number = models.CharField(
        max_length=100, blank=True, help_text="Company registration number, if any."
    )
    email = models.EmailField(
        blank=True, help_text="Invoices are sent from this address (else DEFAULT_FROM_EMAIL)."
    )
    logo = models.BinaryField(blank=True, default=b"", editable=False)
    logo_type = models.CharField(max_length=20, blank=True, editable=False)
    payment_instructions = models.TextField(
        blank=True, help_text="Bank details or a pay link, printed on every invoice."
    )
    payment_terms_days = models.PositiveSmallIntegerField(
        default=30, help_text="Default payment terms of new agreements, in days."
    )
    invoice_footer = models.TextField(blank=True)
    invoice_number_format = models.CharField(
        max_length=50,
        default=DEFAULT_NUMBER_FORMAT,
        validators=[number_format_check],
        help_text="{year}: the year of issue; {seq:06d}: the number within the year, "
        "gapless. Without {year}, numbers never restart.",
    )
    credit_note_number_format = models.CharField(
        max_length=50,
        default=DEFAULT_CREDIT_NOTE_FORMAT,
        validators=[number_format_check],
        help_text="Credit notes' own gapless series, like the invoice number format.",
    )
    # Account codes of the accounting export (a journal CSV).
    outcome_account_code = models.CharField(
        max_length=30,
        default="4000",
        help_text="Revenue account of outcomes whose definition names none.",
    )
    fee_account_code = models.CharField(
        max_length=30,
        default="4100",
        help_text="Revenue account of platform fees, minimum-commitment true-ups and spend "
        "cap discounts.",
    )
    tax_account_code = models.CharField(
        max_length=30, default="2200", help_text="Account of the tax charged (payable)."
    )
    receivables_account_code = models.CharField(
        max_length=30, default="1200", help_text="Account of amounts customers owe."
    )
    bank_account_code = models.CharField(
        max_length=30, default="1000", help_text="Account payments are received into."
    )
    prepaid_credits_account_code = models.CharField(
        max_length=30,
        default="2300",
        help_text="Liability of prepaid credits: credit purchases book to it, paid credits "
        "applied on invoices come out of it.",
    )
    promotional_credits_account_code = models.CharField(
        max_length=30,
        default="4900",
        help_text="Discounts: promotional credits applied on invoices book to it.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["logo"])

    REQUIRED = (
        "legal_name",
        "address_line1",
        "address_city",
        "address_country",
        "tax_id",
        "payment_instructions",
    )

    class Meta:
        verbose_name = verbose_name_plural = "seller profile"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="seller_profile_single_row"),
            country_check("address_country", "seller_country_iso3166"),
        ]

    def __str__(self) -> str:
        return self.legal_name or "Seller profile (incomplete)"

    def clean(self):
        super().clean()
        if self.tax_id:
            error = tax_id_check(self.tax_id, self.address_country)
            if error:
                raise ValidationError({"tax_id": error})

    @classmethod
    def current(cls) -> "SellerProfile":
        """The profile, or an empty unsaved one (a read never creates it)."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)

    @property
    def missing(self) -> list[str]:
        return [
            str(self._meta.get_field(f).verbose_name) for f in self.REQUIRED if not getattr(self, f)
        ]

    def details(self) -> dict:
        """What an invoice prints of the seller, kept on the invoice at issue."""
        return {
            "legal_name": self.legal_name,
            "address": address_lines(self),
            "country": self.address_country,
            "tax_id": self.tax_id,
            "registration_number": self.registration_number,
            "email": self.email,
            "payment_instructions": self.payment_instructions,
            "footer": self.invoice_footer,
        }


class TaxTreatment(models.TextChoices):
    STANDARD = "standard", "Standard (the rate applies)"
    REVERSE_CHARGE = "reverse_charge", "Reverse charge (0%, the buyer accounts for the tax)"
    EXEMPT = "exempt", "Exempt (0%)"


class TaxRate(models.Model):
    """A tax charged on invoice lines, assigned to a customer, an agreement or one price.
    A reverse-charge or exempt rate is 0% and prints its legal note on the invoice; given
    to a customer, it applies to every line of theirs whatever their agreements say."""

    Treatment = TaxTreatment

    name = models.CharField(max_length=100, help_text="Printed on invoices, e.g. “VAT 20%”.")
    percent = models.DecimalField(
        max_digits=7, decimal_places=4, help_text="e.g. 20 for 20%; 0 for reverse charge."
    )
    country = country_field()
    treatment = models.CharField(
        max_length=20, choices=Treatment.choices, default=Treatment.STANDARD
    )
    legal_note = models.TextField(
        blank=True,
        help_text="Printed on the invoice, e.g. “Reverse charge: VAT to be accounted for by "
        "the recipient (Article 196, Directive 2006/112/EC).” Required unless standard.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["country", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(percent__gte=0, percent__lte=100), name="tax_rate_percent_0_100"
            ),
            models.CheckConstraint(
                condition=Q(treatment=TaxTreatment.STANDARD) | (Q(percent=0) & ~Q(legal_note="")),
                name="tax_rate_zero_with_note_unless_standard",
            ),
            models.CheckConstraint(
                condition=Q(treatment__in=TaxTreatment.values), name="tax_rate_treatment_valid"
            ),
            country_check("country", "tax_rate_country_iso3166"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.country})" if self.country else self.name

    def clean(self):
        super().clean()
        if self.treatment != TaxTreatment.STANDARD:
            errors = {}
            if self.percent:
                errors["percent"] = (
                    f"A {self.get_treatment_display().split(' (')[0].lower()} rate is 0%."
                )
            if not self.legal_note.strip():
                errors["legal_note"] = "Give the legal note the invoice must print."
            if errors:
                raise ValidationError(errors)

    @property
    def overrides_prices(self) -> bool:
        """A customer's reverse-charge or exempt rate wins over agreement and price rates."""
        return self.treatment != TaxTreatment.STANDARD
