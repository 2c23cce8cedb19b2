"""Billing periods, invoices and the number counter (lines and taxes: invoice_lines.py)."""

from datetime import UTC, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Round
from simple_history.models import HistoricalRecords

from billing.errors import StateError
from billing.money import MONEY, format_money


class PeriodState(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    VOIDED = "voided", "Voided (awaiting reissue)"


class InvoiceStatus(models.TextChoices):
    ISSUED = "issued", "Issued"
    PAID = "paid", "Paid"
    VOID = "void", "Void"

    @classmethod
    def live(cls) -> tuple[str, str]:
        """The states of an invoice that bills its period (not void)."""
        return (cls.ISSUED, cls.PAID)


class InvoiceKind(models.TextChoices):
    PERIOD = "period", "Billing period"
    TOP_UP = "top_up", "Credit top-up (issued at once)"


class BillingPeriodQuerySet(models.QuerySet):
    def open(self):
        return self.filter(state=BillingPeriod.State.OPEN)

    def unsettled(self):
        """Periods without a live invoice: open, or voided and awaiting reissue. A later
        period closes only after them, or their signals would be billed as its late ones."""
        return self.filter(state__in=BillingPeriod.UNSETTLED)


class BillingPeriod(models.Model):
    """[starts_at, ends_at) in UTC of one agreement.

    open -> closed (invoice issued) -> voided (its invoice voided; waits for Finance to
    reissue it, which closes it again with a new invoice)."""

    State = PeriodState

    agreement = models.ForeignKey(
        "billing.PriceAgreement", on_delete=models.PROTECT, related_name="periods"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)

    UNSETTLED = (State.OPEN, State.VOIDED)
    objects = BillingPeriodQuerySet.as_manager()

    class Meta:
        ordering = ["agreement", "starts_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "starts_at"], name="period_unique_start_per_agreement"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="period_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(state__in=PeriodState.values), name="period_state_valid"
            ),
        ]
        indexes = [models.Index(fields=["state", "ends_at"], name="period_due_idx")]

    def __str__(self) -> str:
        return f"{self.agreement} {self.starts_at:%Y-%m-%d} – {self.ends_at:%Y-%m-%d}"

    @property
    def due_at(self):
        return self.ends_at + self.agreement.grace_period

    @property
    def last_day(self):
        """The day whose exchange rates the period's costs are converted at."""
        return (self.ends_at - timedelta(days=1)).date()

    def _move(self, *, to: str, allowed: tuple, **fields) -> None:
        if self.state not in allowed:
            raise StateError(
                f"Period {self} is {self.get_state_display().lower()}: it cannot become {to}."
            )
        self.state = to
        for name, value in fields.items():
            setattr(self, name, value)
        self.save(update_fields=["state", *fields])

    def close(self, *, at, reissue: bool = False) -> None:
        """open -> closed when its invoice is issued; voided -> closed when reissued.
        The caller holds the period's row lock."""
        allowed = (self.State.VOIDED,) if reissue else (self.State.OPEN,)
        self._move(to=self.State.CLOSED, allowed=allowed, closed_at=at)

    def void(self) -> None:
        """closed -> voided when its invoice is voided: it waits for a reissue."""
        self._move(to=self.State.VOIDED, allowed=(self.State.CLOSED,))


class InvoiceCounter(models.Model):
    """The last number of a series (invoices; credit notes later) in a year (0 for the
    numbers issued before invoices had a year, and for formats without {year}); its row
    is locked while a document is issued, so numbers are sequential without gaps (a
    rolled-back close gives its number back)."""

    series = models.CharField(max_length=20, default="invoice")
    year = models.PositiveSmallIntegerField(default=0)
    last_number = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="counter_unique_series_year")
        ]

    def __str__(self) -> str:
        return f"last {self.series} number of {self.year or 'all years'}: {self.last_number}"


class InvoiceQuerySet(models.QuerySet):
    def issued(self):
        """Live invoices: issued, paid or partly paid (not void)."""
        return self.filter(status__in=Invoice.Status.live())

    def open(self):
        """Live invoices with an amount still due (payments and credit notes netted)."""
        # Rounded as stored: SQLite adds decimals as floats (see the paid check below).
        return self.filter(
            status=Invoice.Status.ISSUED,
            total__gt=Round(models.F("amount_paid") + models.F("amount_credited"), 8),
        )

    def overdue(self, now):
        """Open invoices whose due date (a UTC day) is before `now`'s day."""
        today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return self.open().filter(due_at__lt=today)


class Invoice(models.Model):
    """issued -> paid (payments add up to the total) or void. Amounts: `net` is the sum
    of the lines, `tax` the sum of the per-rate taxes, `total = net + tax` (a database
    check). Seller and buyer are kept as printed at issue, whatever is edited later.

    A period's invoice bills its period; a top-up invoice (no period) bills one credit
    purchase at once (billing/top_up_invoices.py)."""

    Status = InvoiceStatus
    Kind = InvoiceKind

    # Set last, under the counter's lock, just before the closing transaction commits:
    # the series' format filled with the year and the gapless sequence number.
    number = models.CharField(max_length=40, unique=True, null=True)
    sequence_year = models.PositiveSmallIntegerField(null=True, blank=True)
    sequence = models.PositiveBigIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=10, choices=InvoiceKind.choices, default=InvoiceKind.PERIOD)
    period = models.ForeignKey(
        BillingPeriod,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invoices",
        help_text="The period it bills; none for a top-up invoice.",
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="invoices"
    )
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ISSUED)
    issued_at = models.DateTimeField()
    due_at = models.DateTimeField()
    net = models.DecimalField(**MONEY, default=0)
    tax = models.DecimalField(**MONEY, default=0)
    total = models.DecimalField(**MONEY)
    amount_paid = models.DecimalField(**MONEY, default=0)
    amount_credited = models.DecimalField(
        **MONEY, default=0, help_text="The sum of its credit notes' totals."
    )
    paid_at = models.DateTimeField(null=True, blank=True, help_text="When it was paid in full.")
    seller = models.JSONField(default=dict, blank=True, editable=False)
    buyer = models.JSONField(default=dict, blank=True, editable=False)
    replaces = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="replaced_by"
    )
    void_reason = models.TextField(blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    history = HistoricalRecords()
    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at", "-id"]
        permissions = [("void_invoice", "Can void and reissue invoices")]
        constraints = [
            # Exactly once: at most one live invoice per billing period.
            models.UniqueConstraint(
                fields=["period"],
                condition=Q(status__in=InvoiceStatus.live()),
                name="invoice_one_issued_per_period",
            ),
            models.UniqueConstraint(
                fields=["sequence_year", "sequence"], name="invoice_unique_sequence"
            ),
            # Rounded to the stored precision: SQLite adds decimals as floats (19.15 +
            # 2.22 = 21.369999999999997); PostgreSQL's numeric sum is exact already.
            models.CheckConstraint(
                condition=Q(total=Round(models.F("net") + models.F("tax"), 8)),
                name="invoice_total_is_net_plus_tax",
            ),
            # Payments never exceed the total (an invoice of 0 or less takes none).
            models.CheckConstraint(
                condition=Q(amount_paid=0)
                | Q(amount_paid__gt=0, amount_paid__lte=models.F("total")),
                name="invoice_paid_within_total",
            ),
            # Paid: nothing left due, and some of it by payments.
            models.CheckConstraint(
                condition=~Q(status=InvoiceStatus.PAID)
                | Q(
                    amount_paid__gt=0,
                    total__lte=Round(models.F("amount_paid") + models.F("amount_credited"), 8),
                ),
                name="invoice_paid_in_full",
            ),
            # Credit notes never credit more than the invoice's total.
            models.CheckConstraint(
                condition=Q(amount_credited=0)
                | Q(amount_credited__gt=0, amount_credited__lte=models.F("total")),
                name="invoice_credited_within_total",
            ),
            models.CheckConstraint(
                condition=Q(status__in=InvoiceStatus.values), name="invoice_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind=InvoiceKind.PERIOD, period__isnull=False)
                | Q(kind=InvoiceKind.TOP_UP, period__isnull=True),
                name="invoice_period_iff_period_kind",
            ),
            models.CheckConstraint(
                condition=~Q(status=InvoiceStatus.VOID) | ~Q(void_reason=""),
                name="invoice_void_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.number}"

    @property
    def amount_due(self) -> Decimal:
        """What the customer still owes: the total less payments and credit notes."""
        if self.status == self.Status.VOID:
            return Decimal(0)
        return max(self.total - self.amount_paid - self.amount_credited, Decimal(0))

    @property
    def amount_creditable(self) -> Decimal:
        """What credit notes may still credit: the total less what they credited."""
        if self.status == self.Status.VOID:
            return Decimal(0)
        return max(self.total - self.amount_credited, Decimal(0))

    @property
    def amount_refundable(self) -> Decimal:
        """Money the customer is owed back: payments and credit notes beyond the total
        (a credit note on an invoice already paid). Refunds are recorded outside."""
        if self.status == self.Status.VOID:
            return Decimal(0)
        return max(self.amount_paid + self.amount_credited - self.total, Decimal(0))

    @property
    def fully_credited(self) -> bool:
        return self.total > 0 and self.amount_credited >= self.total

    def days_overdue(self, now) -> int:
        """Days from the due date (a UTC day) to `now`'s day, with an amount still due;
        0 when not overdue (the due day itself is not overdue)."""
        if self.status != self.Status.ISSUED or self.amount_due <= 0:
            return 0
        return max((now.astimezone(UTC).date() - self.due_at.astimezone(UTC).date()).days, 0)

    def void(self, *, reason: str, user=None, at) -> None:
        """issued -> void, with the reason kept in its history. The caller holds the
        invoice's row lock and releases its signals."""
        reason = reason.strip()
        if not reason:
            raise StateError("Give a reason for voiding the invoice.")
        if self.status == self.Status.VOID:
            raise StateError(f"Invoice {self.number} is already void.")
        if self.amount_credited or self.credit_notes.exists():  # 0.00: credits given back
            credited = format_money(self.amount_credited, self.currency)
            raise StateError(
                f"Invoice {self.number} has credit notes of {credited} {self.currency}: "
                "credit what is left with a credit note instead of voiding it."
            )
        if self.amount_paid:
            paid = format_money(self.amount_paid, self.currency)
            raise StateError(
                f"Invoice {self.number} has payments of {paid} {self.currency} recorded: "
                "an invoice that was paid is not voided."
            )
        self.status, self.void_reason, self.voided_at, self.voided_by = (
            self.Status.VOID,
            reason,
            at,
            user,
        )
        self._change_reason = reason
        self.save()

    def payment_add(self, *, amount, at) -> None:
        """Count a payment: issued -> paid once payments reach the total. The caller holds
        the invoice's row lock and stores the payment."""
        if self.status != self.Status.ISSUED:
            raise StateError(f"Invoice {self.number} is {self.get_status_display().lower()}.")
        if amount > self.amount_due:
            due = format_money(self.amount_due, self.currency)
            raise StateError(
                f"The payment is more than the {due} {self.currency} due on invoice "
                f"{self.number}: record at most the amount due."
            )
        self.amount_paid += amount
        fields = ["amount_paid"]
        if self.amount_paid + self.amount_credited >= self.total:
            self.status, self.paid_at = self.Status.PAID, at
            fields += ["status", "paid_at"]
        self.save(update_fields=fields)
