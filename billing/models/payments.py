"""Payments received against invoices. Recorded, never edited: a mistaken payment is
corrected by Finance in the database's history, not here (refunds are out of scope)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from billing.money import MONEY, format_money


class Payment(models.Model):
    """Money received for one invoice, in its currency. The invoice's `amount_paid` is
    the sum of its payments, updated under the invoice's row lock with each one."""

    invoice = models.ForeignKey(
        "billing.Invoice", on_delete=models.PROTECT, related_name="payments"
    )
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    received_on = models.DateField()
    reference = models.CharField(
        max_length=200, blank=True, help_text="Bank or processor reference; unique per invoice."
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["invoice", "received_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.UniqueConstraint(
                fields=["invoice", "reference"],
                condition=~Q(reference=""),
                name="payment_unique_reference_per_invoice",
            ),
        ]

    def __str__(self) -> str:
        return f"{format_money(self.amount, self.currency)} {self.currency} on {self.received_on}"
