"""Corrections of issued invoices: credit notes (documents of their own: a closed
invoice never changes) and the outcome disputes that may lead to one."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Round
from simple_history.models import HistoricalRecords

from billing.money import MONEY, format_money


class CreditNote(models.Model):
    """A credit against one issued invoice: its lines credit lines of the invoice (net),
    tax is reversed at the invoice's rates, per rate, rounded once. Amounts are positive
    (what is credited); `total = net + tax` (a database check). Numbered in its own
    gapless series under the counter's lock, like invoices. The invoice's
    `amount_credited` is the sum of its credit notes' totals, updated under the invoice's
    row lock, and never exceeds the invoice's total (a database check on the invoice)."""

    number = models.CharField(max_length=40, unique=True)
    sequence_year = models.PositiveSmallIntegerField()
    sequence = models.PositiveBigIntegerField()
    invoice = models.ForeignKey(
        "billing.Invoice", on_delete=models.PROTECT, related_name="credit_notes"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="credit_notes"
    )
    currency = models.CharField(max_length=3)
    issued_at = models.DateTimeField()
    reason = models.TextField()
    net = models.DecimalField(**MONEY)
    tax = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    seller = models.JSONField(default=dict, blank=True, editable=False)
    buyer = models.JSONField(default=dict, blank=True, editable=False)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reference = models.CharField(
        max_length=100,
        blank=True,
        help_text="The request's idempotency key (API) or form token (admin): a request "
        "sent again with it issues nothing more (unique per invoice).",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-issued_at", "-id"]
        permissions = [("issue_creditnote", "Can issue credit notes")]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence_year", "sequence"], name="credit_note_unique_sequence"
            ),
            models.UniqueConstraint(
                fields=["invoice", "reference"],
                condition=~Q(reference=""),
                name="credit_note_reference_once_per_invoice",
            ),
            # Zero when it only gives prepaid credits back (the charges they paid are credited).
            models.CheckConstraint(condition=Q(net__gte=0), name="credit_note_net_non_negative"),
            models.CheckConstraint(condition=Q(tax__gte=0), name="credit_note_tax_non_negative"),
            models.CheckConstraint(
                condition=Q(total=Round(models.F("net") + models.F("tax"), 8)),
                name="credit_note_total_is_net_plus_tax",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="credit_note_has_reason"),
        ]

    def __str__(self) -> str:
        return f"Credit note {self.number}"


class CreditNoteLine(models.Model):
    """The net credited on one line of the invoice, at that line's tax rate: positive,
    except on a full credit of an invoice with a spend cap, whose discount line is
    reversed too (a negative credit)."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey(
        "billing.InvoiceLine", on_delete=models.PROTECT, related_name="credits"
    )
    description = models.TextField()
    amount = models.DecimalField(**MONEY, help_text="Net credited, rounded to the minor unit.")
    tax_rate = models.ForeignKey(
        "billing.TaxRate", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tax_percent = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["credit_note", "position"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="credit_line_amount_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.description}: {format_money(self.amount, self.credit_note.currency)}"


class CreditNoteTax(models.Model):
    """One tax rate's reversal on a credit note: the invoice's rate applied once to the
    net credited at that rate, rounded half-up to the minor unit."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="taxes")
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
        ordering = ["credit_note", "position"]

    def __str__(self) -> str:
        return f"{self.name}: {format_money(self.tax, self.credit_note.currency)}"


class DisputeState(models.TextChoices):
    OPEN = "open", "Open"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class DisputeSource(models.TextChoices):
    STATEMENT = "statement", "Customer (statement link)"
    ADMIN = "admin", "Account manager"


class Dispute(models.Model):
    """A customer contests specific outcomes: open -> accepted / rejected, audited.
    Accepted on a billed invoice, it issues one credit note for exactly what those
    outcomes added; accepted before they are billed, they are simply never billed."""

    State = DisputeState
    Source = DisputeSource

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="disputes"
    )
    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="disputes",
        help_text="The invoice that billed the outcomes (empty: not billed yet).",
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    source = models.CharField(max_length=10, choices=Source.choices)
    reason = models.TextField()
    opened_at = models.DateTimeField()
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when accepted automatically (the agreement's auto-accept limit).",
    )
    resolution_note = models.TextField(blank=True)
    credit_note = models.OneToOneField(
        CreditNote, on_delete=models.PROTECT, null=True, blank=True, related_name="dispute"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-opened_at", "-id"]
        permissions = [("resolve_dispute", "Can accept or reject disputes")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=DisputeState.values), name="dispute_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(source__in=DisputeSource.values), name="dispute_source_valid"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="dispute_has_reason"),
            models.CheckConstraint(
                condition=Q(state=DisputeState.OPEN, resolved_at__isnull=True)
                | (~Q(state=DisputeState.OPEN) & Q(resolved_at__isnull=False)),
                name="dispute_resolved_when_closed",
            ),
            models.CheckConstraint(
                condition=Q(credit_note__isnull=True) | Q(state=DisputeState.ACCEPTED),
                name="dispute_credit_only_when_accepted",
            ),
        ]

    def __str__(self) -> str:
        return f"Dispute {self.pk} ({self.get_state_display().lower()})"


class DisputedOutcome(models.Model):
    """One signal (an outcome) under a dispute. A signal is disputed at most once, ever
    (a unique key): a second dispute of it is refused, whatever became of the first.
    Once its dispute is accepted, the signal is never billed again, late or not."""

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="outcomes")
    signal = models.OneToOneField(
        "agents.Signal", on_delete=models.PROTECT, related_name="dispute_item"
    )
    reason = models.TextField(blank=True)
    credited = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        help_text="Net this outcome's acceptance credited (its share of the credit note).",
    )
    # What the invoice billed it as, kept when its mark becomes "disputed": the invoice
    # can then be recomputed as issued, to check that it still prices as it did.
    billed_outcome = models.CharField(max_length=10, blank=True)
    billed_counted = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["dispute", "signal"]

    def __str__(self) -> str:
        return f"signal {self.signal_id} in {self.dispute}"
