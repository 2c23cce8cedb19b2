"""Agreement versions: the terms an agreement bills from a period boundary on."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class AgreementVersion(models.Model):
    """The agreement's fee, minimum, cap and prices (with their tiers) from
    `effective_from`, a period start, until the next version's. An agreement has versions
    once a change was saved after it billed (the first one holds the terms before it);
    without any, its prices as they stand bill every period. Written by
    billing/versions.py only; never changed once a period under it closed."""

    class Source(models.TextChoices):
        ORIGINAL = "original", "Terms before the first change"
        ADMIN = "admin", "Edited in the admin"
        SIMULATION = "simulation", "Applied from the pricing lab"
        PORTFOLIO = "portfolio", "Portfolio change"

    agreement = models.ForeignKey(
        "billing.PriceAgreement", on_delete=models.PROTECT, related_name="versions"
    )
    number = models.PositiveIntegerField()
    effective_from = models.DateTimeField(help_text="The start of the first period it bills.")
    terms = models.JSONField(
        help_text="platform_fee, minimum_commitment, spend_cap and prices by outcome "
        "definition id (model, amounts, tax_rate, tiers as [above, up to, unit price])."
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["agreement", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "number"], name="agreement_version_number_unique"
            ),
            models.UniqueConstraint(
                fields=["agreement", "effective_from"], name="agreement_version_start_unique"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="agreement_version_number"),
        ]

    def __str__(self) -> str:
        return f"version {self.number} from {self.effective_from:%Y-%m-%d}"
