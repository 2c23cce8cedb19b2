"""An invoice's lines and its per-rate taxes, as issued."""

from django.db import models

from billing.models.invoices import BillingPeriod, Invoice
from billing.money import MONEY, format_money


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        OUTCOME = "outcome", "Outcome"
        PLATFORM_FEE = "platform_fee", "Platform fee"
        MINIMUM_TRUE_UP = "minimum_true_up", "Minimum commitment true-up"
        CAP_DISCOUNT = "cap_discount", "Spend cap discount"
        ADJUSTMENT = "adjustment", "Adjustment (late signals)"
        CREDITS_APPLIED = "credits_applied", "Prepaid credits applied"
        CREDIT_PURCHASE = "credit_purchase", "Credit purchase (top-up)"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.TextField()
    price = models.ForeignKey(
        "billing.Price", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    adjusted_period = models.ForeignKey(
        BillingPeriod,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="For an adjustment: the period the late signals belong to.",
    )
    credit_grant = models.ForeignKey(
        "billing.CreditGrant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Credits applied, or a credit purchase: the grant.",
    )
    successes = models.PositiveIntegerField(default=0)
    partials = models.PositiveIntegerField(default=0)
    quantity = models.DecimalField(**MONEY, default=0)
    unit_price = models.DecimalField(**MONEY, null=True, blank=True)
    amount = models.DecimalField(**MONEY, help_text="Net of tax, rounded to the minor unit.")
    tax_rate = models.ForeignKey(
        "billing.TaxRate", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tax_percent = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["invoice", "position"]

    def __str__(self) -> str:
        # The admin's line inline selects the invoice with its lines.
        amount = format_money(self.amount, self.invoice.currency)
        return f"{self.get_kind_display()}: {amount} {self.invoice.currency}"


class InvoiceTax(models.Model):
    """One tax rate's total on an invoice: the rate applied once to the net of its lines,
    rounded half-up to the minor unit. Name, percent and note as printed at issue."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="taxes")
    tax_rate = models.ForeignKey(
        "billing.TaxRate", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    name = models.CharField(max_length=100)
    percent = models.DecimalField(max_digits=7, decimal_places=4)
    legal_note = models.TextField(blank=True)
    net = models.DecimalField(**MONEY)
    tax = models.DecimalField(**MONEY)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "tax_rate"], name="invoice_tax_one_per_rate")
        ]

    def __str__(self) -> str:
        return f"{self.name}: {format_money(self.tax, self.invoice.currency)}"
