"""What an issued invoice or credit note becomes outside the database: its PDF (stored
once, with its SHA-256) and the e-mails that deliver it or remind of it."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class DocumentVariant(models.TextChoices):
    ORIGINAL = "original", "Original"
    VOID = "void", "Void (watermarked)"


class StoredPdf(models.Model):
    """A rendered PDF as stored: the bytes that were sent, their SHA-256 and size."""

    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class InvoiceDocument(StoredPdf):
    """An invoice's PDF, rendered once after issue and never again: the stored bytes are
    what was sent. A voided invoice gets a second, watermarked rendering; the original
    stays."""

    Variant = DocumentVariant

    invoice = models.ForeignKey(
        "billing.Invoice", on_delete=models.PROTECT, related_name="documents"
    )
    variant = models.CharField(max_length=10, choices=Variant.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "variant"], name="document_once_per_variant"
            ),
            models.CheckConstraint(
                condition=Q(variant__in=DocumentVariant.values), name="document_variant_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice} PDF ({self.variant})"

    @property
    def filename(self) -> str:
        suffix = "-void" if self.variant == self.Variant.VOID else ""
        return f"{self.invoice.number}{suffix}.pdf"


class CreditNoteDocument(StoredPdf):
    """A credit note's PDF, rendered once after issue and never again (a credit note is
    never voided: one rendering, one row per credit note)."""

    credit_note = models.OneToOneField(
        "billing.CreditNote", on_delete=models.PROTECT, related_name="document"
    )

    def __str__(self) -> str:
        return f"{self.credit_note} PDF"

    @property
    def filename(self) -> str:
        return f"{self.credit_note.number}.pdf"


class DeliveryKind(models.TextChoices):
    INVOICE = "invoice", "Invoice e-mail"
    REMINDER = "reminder", "Payment reminder"
    RESEND = "resend", "Invoice e-mail (resent)"
    CREDIT_NOTE = "credit_note", "Credit note e-mail"
    CREDIT_NOTE_RESEND = "credit_note_resend", "Credit note e-mail (resent)"

    @classmethod
    def of_credit_notes(cls) -> tuple[str, str]:
        """The kinds that send a credit note (and name it: `credit_note` is set)."""
        return (cls.CREDIT_NOTE, cls.CREDIT_NOTE_RESEND)


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Failed, will retry"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"


class InvoiceDelivery(models.Model):
    """One e-mail about an invoice, or one of its credit notes (`credit_note` set, kinds
    credit_note and credit_note_resend). The row exists before anything is sent; a
    worker claims it (pending/retrying -> sending, a conditional UPDATE only one worker
    wins), so it is sent at most once; a failure is retried with backoff up to
    INVOICE_DELIVERY_MAX_ATTEMPTS. One invoice e-mail per invoice, one e-mail per credit
    note and one reminder per overdue threshold (unique); Finance may resend any number
    of times."""

    Kind = DeliveryKind
    State = DeliveryState

    invoice = models.ForeignKey(
        "billing.Invoice", on_delete=models.PROTECT, related_name="deliveries"
    )
    credit_note = models.ForeignKey(
        "billing.CreditNote",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deliveries",
        help_text="For a credit note's e-mail: the credit note (of `invoice`) it sends.",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    threshold_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="For a reminder: the days overdue it is for."
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    recipients = models.TextField(blank=True, help_text="Who it was sent to, one per line.")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "invoice deliveries"
        ordering = ["-created_at", "-id"]
        permissions = [("resend_invoice", "Can resend invoices by e-mail")]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(kind=DeliveryKind.INVOICE),
                name="delivery_invoice_once",
            ),
            models.UniqueConstraint(
                fields=["invoice", "threshold_days"],
                condition=Q(kind=DeliveryKind.REMINDER),
                name="delivery_reminder_once_per_threshold",
            ),
            models.CheckConstraint(
                condition=Q(kind=DeliveryKind.REMINDER) | Q(threshold_days__isnull=True),
                name="delivery_threshold_only_on_reminders",
            ),
            models.UniqueConstraint(
                fields=["credit_note"],
                condition=Q(kind=DeliveryKind.CREDIT_NOTE),
                name="delivery_credit_note_once",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=DeliveryKind.of_credit_notes(), credit_note__isnull=False)
                | (~Q(kind__in=DeliveryKind.of_credit_notes()) & Q(credit_note__isnull=True)),
                name="delivery_credit_note_only_on_its_kinds",
            ),
            models.CheckConstraint(
                condition=Q(state__in=DeliveryState.values), name="delivery_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=DeliveryKind.values), name="delivery_kind_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=["pending", "retrying"]),
                name="delivery_waiting_idx",
            )
        ]

    def __str__(self) -> str:
        what = self.get_kind_display()
        if self.threshold_days is not None:
            what += f" ({self.threshold_days} days overdue)"
        # The credit note's number when it is one's: the admin selects it with the row.
        number = self.credit_note.number if self.credit_note_id else self.invoice.number
        return f"{what} for {number}: {self.get_state_display().lower()}"
