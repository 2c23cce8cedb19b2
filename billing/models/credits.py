"""Prepaid credits: grants (money, or a number of outcomes of one definition), their
immutable ledger and recurring allowances. Budgets and the live balance: balances.py."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from billing.money import MONEY, format_money, format_quantity
from customers.currencies import CURRENCY_CHOICES, validate_currency_code
from customers.models import currency_check


class GrantUnit(models.TextChoices):
    MONEY = "money", "Money (the agreement's currency)"
    OUTCOMES = "outcomes", "Outcomes of one definition"


class GrantKind(models.TextChoices):
    PAID = "paid", "Paid (prepaid commitment or top-up)"
    PROMOTIONAL = "promotional", "Promotional"


class GrantSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "Staff API"
    TOP_UP = "top_up", "Top-up (billed on the next invoice)"
    TOP_UP_NOW = "top_up_now", "Top-up now (invoiced at once, on its own invoice)"
    RECURRING = "recurring", "Recurring allowance"


class CreditGrantQuerySet(models.QuerySet):
    def live_for(self, *, customer_id: int, starts_at, ends_at):
        """Grants a charge of [starts_at, ends_at) may draw: effective before it ends, not
        expired before it starts, something left."""
        return self.filter(
            customer_id=customer_id,
            effective_at__lt=ends_at,
            remaining__gt=0,
        ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=starts_at))


class CreditGrant(models.Model):
    """Credits a customer may spend on outcome charges (and on fees, if the grant says so).

    `amount` is what was granted, in the grant's unit: money in `currency`, or a number of
    outcomes of `outcome_definition`. `remaining` is the balance of its ledger, kept with
    each entry under the grant's row lock; a check keeps it between 0 and `amount`."""

    Unit = GrantUnit
    Kind = GrantKind
    Source = GrantSource

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="credit_grants"
    )
    name = models.CharField(max_length=200, help_text="Shown on invoices, e.g. 2027 commitment.")
    kind = models.CharField(max_length=12, choices=GrantKind.choices, default=GrantKind.PAID)
    unit = models.CharField(max_length=10, choices=GrantUnit.choices, default=GrantUnit.MONEY)
    currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, validators=[validate_currency_code]
    )
    outcome_definition = models.ForeignKey(
        "billing.OutcomeDefinition",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Outcome grants only: the outcomes it covers.",
    )
    amount = models.DecimalField(
        **MONEY, help_text="Granted: money in the currency, or a number of outcomes."
    )
    remaining = models.DecimalField(**MONEY, editable=False)
    purchase_price = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        help_text="Top-ups: what the customer is invoiced for it (empty: its amount).",
    )
    effective_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    priority = models.PositiveSmallIntegerField(
        default=100,
        help_text="Among grants expiring at the same time, the lower number is drawn first.",
    )
    applies_to_fees = models.BooleanField(
        default=False,
        help_text="Also pays platform fees and minimum true-ups (outcome charges always).",
    )
    source = models.CharField(max_length=10, choices=GrantSource.choices, default=GrantSource.ADMIN)
    recurring = models.ForeignKey(
        "billing.RecurringGrant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="grants",
    )
    recurring_on = models.DateField(null=True, blank=True, editable=False)
    purchase_invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_purchases",
        editable=False,
        help_text="Top-ups: the invoice whose credit purchase line bills it.",
    )
    reference = models.CharField(
        max_length=200, blank=True, help_text="Client's idempotency reference (staff API)."
    )
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = CreditGrantQuerySet.as_manager()

    class Meta:
        ordering = ["customer", "expires_at", "priority", "effective_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="grant_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0, remaining__lte=F("amount")),
                name="grant_remaining_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("effective_at")),
                name="grant_expires_after_effective",
            ),
            models.CheckConstraint(
                condition=Q(unit=GrantUnit.MONEY, outcome_definition__isnull=True)
                | Q(unit=GrantUnit.OUTCOMES, outcome_definition__isnull=False),
                name="grant_outcome_definition_iff_outcomes",
            ),
            models.CheckConstraint(
                condition=Q(purchase_price__isnull=True) | Q(purchase_price__gte=0),
                name="grant_purchase_price_non_negative",
            ),
            models.CheckConstraint(condition=Q(kind__in=GrantKind.values), name="grant_kind_valid"),
            models.CheckConstraint(condition=Q(unit__in=GrantUnit.values), name="grant_unit_valid"),
            models.CheckConstraint(
                condition=Q(source__in=GrantSource.values), name="grant_source_valid"
            ),
            models.UniqueConstraint(
                fields=["customer", "reference"],
                condition=~Q(reference=""),
                name="grant_unique_reference_per_customer",
            ),
            models.UniqueConstraint(
                fields=["recurring", "recurring_on"],
                condition=Q(recurring__isnull=False),
                name="grant_once_per_recurring_date",
            ),
            currency_check("currency", "grant_currency_iso4217"),
        ]
        indexes = [models.Index(fields=["customer", "remaining"], name="grant_customer_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.amount_display(self.amount)})"

    def amount_display(self, value: Decimal) -> str:
        if self.unit == GrantUnit.OUTCOMES:
            return f"{format_quantity(value)} outcomes"
        return format_money(value, self.currency)


class LedgerKind(models.TextChoices):
    GRANT = "grant", "Grant"
    DRAWDOWN = "drawdown", "Drawdown (invoice)"
    EXPIRY = "expiry", "Expiry write-off"
    REVERSAL = "reversal", "Reversal (void or credit note)"
    CANCELLATION = "cancellation", "Cancellation (top-up credited or voided)"


class CreditLedgerEntry(models.Model):
    """One movement of a grant's balance, never changed once written. `amount` is in the
    grant's unit (positive adds, negative takes); `value` is what it is worth in money on
    the invoice (an outcome grant's drawdown of 100 outcomes may be worth 100.00);
    `balance_after` is the grant's remaining after it. Each entry names its document."""

    Kind = LedgerKind

    grant = models.ForeignKey(CreditGrant, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=12, choices=LedgerKind.choices)
    amount = models.DecimalField(**MONEY)
    value = models.DecimalField(**MONEY, default=Decimal(0))
    balance_after = models.DecimalField(**MONEY)
    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_entries",
    )
    credit_note = models.ForeignKey(
        "billing.CreditNote",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_entries",
    )
    at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["grant", "pk"]
        verbose_name_plural = "credit ledger entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=LedgerKind.values), name="ledger_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="ledger_balance_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(kind=LedgerKind.GRANT, amount__gt=0)
                | Q(kind=LedgerKind.DRAWDOWN, amount__lt=0, invoice__isnull=False)
                | Q(kind=LedgerKind.EXPIRY, amount__lt=0)
                | Q(kind=LedgerKind.REVERSAL, amount__gt=0, invoice__isnull=False)
                # A credit note, or a top-up invoice's void, cancels a purchase.
                | Q(kind=LedgerKind.CANCELLATION, amount__lt=0, credit_note__isnull=False)
                | Q(kind=LedgerKind.CANCELLATION, amount__lt=0, invoice__isnull=False),
                name="ledger_sign_and_document_per_kind",
            ),
            models.UniqueConstraint(
                fields=["grant"], condition=Q(kind=LedgerKind.GRANT), name="ledger_one_grant_entry"
            ),
            # An invoice draws a grant once: a second close of it cannot draw again.
            models.UniqueConstraint(
                fields=["grant", "invoice"],
                condition=Q(kind=LedgerKind.DRAWDOWN),
                name="ledger_one_drawdown_per_invoice",
            ),
            # A void gives an invoice's drawdown back once.
            models.UniqueConstraint(
                fields=["grant", "invoice"],
                condition=Q(kind=LedgerKind.REVERSAL, credit_note__isnull=True),
                name="ledger_one_void_reversal_per_invoice",
            ),
            # A top-up invoice's void cancels its purchase once.
            models.UniqueConstraint(
                fields=["grant", "invoice"],
                condition=Q(kind=LedgerKind.CANCELLATION, credit_note__isnull=True),
                name="ledger_one_void_cancellation_per_invoice",
            ),
        ]
        indexes = [models.Index(fields=["invoice"], name="ledger_invoice_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.grant.amount_display(self.amount)}"


class RecurringGrant(models.Model):
    """An allowance granted by beat on a schedule: e.g. 500.00 on the 1st of every month,
    expiring after `valid_days`."""

    class Every(models.TextChoices):
        MONTH = "month", "Month"
        QUARTER = "quarter", "Quarter"
        YEAR = "year", "Year"

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="recurring_grants"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=GrantKind.choices, default=GrantKind.PAID)
    unit = models.CharField(max_length=10, choices=GrantUnit.choices, default=GrantUnit.MONEY)
    currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, validators=[validate_currency_code]
    )
    outcome_definition = models.ForeignKey(
        "billing.OutcomeDefinition",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    amount = models.DecimalField(**MONEY)
    every = models.CharField(max_length=10, choices=Every.choices, default=Every.MONTH)
    starts_on = models.DateField(help_text="First grant's date (UTC midnight).")
    ends_on = models.DateField(null=True, blank=True, help_text="Last date a grant is made.")
    valid_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Each grant expires this many days after it starts."
    )
    priority = models.PositiveSmallIntegerField(default=100)
    applies_to_fees = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="recurring_amount_positive"),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                name="recurring_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(unit=GrantUnit.MONEY, outcome_definition__isnull=True)
                | Q(unit=GrantUnit.OUTCOMES, outcome_definition__isnull=False),
                name="recurring_outcome_definition_iff_outcomes",
            ),
            currency_check("currency", "recurring_currency_iso4217"),
        ]

    def __str__(self) -> str:
        return self.name
