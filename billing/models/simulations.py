"""Saved simulations of the pricing lab."""

from django.conf import settings
from django.db import models


class SavedSimulation(models.Model):
    """A pricing-lab run kept with its parameters (the page's query) and what it showed
    then, per period and in total; re-run by opening its parameters again."""

    agreement = models.ForeignKey(
        "billing.PriceAgreement", on_delete=models.CASCADE, related_name="saved_simulations"
    )
    name = models.CharField(max_length=200)
    parameters = models.JSONField(help_text="The simulation page's query, field by field.")
    results = models.JSONField(
        help_text="currency, rows (per period) and totals, as the page showed them."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agreement", "-created_at", "-pk"]

    def __str__(self) -> str:
        return self.name
