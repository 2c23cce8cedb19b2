"""Staff API bodies of credit grants: what a POST may send, and a grant and its ledger
as the API answers them (billing/api/credit_grants.py serves them)."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    extend_schema_field,
)
from rest_framework import serializers

from agents.api.paid_fields import (
    CurrencyCode,
    DayOrMomentField,
    Flag,
    StrictSerializer,
    Text,
    WholeNumber,
)
from billing.api.payments import MAX_ID
from billing.credit_grants import REFERENCE_MAX
from billing.credit_notes import AMOUNT_TEXT
from billing.models import CreditGrant, CreditLedgerEntry
from billing.money import format_quantity, round_line

IDEMPOTENCY_HEADER = "Idempotency-Key"
PLACES = 8  # amounts are stored with 8 decimal places (billing.money.MONEY)


@extend_schema_field({"type": "string", "pattern": AMOUNT_TEXT.pattern, "maxLength": 40})
class AmountText(Text):
    """An amount as typed, as a string: digits, thousands separators in threes, a
    decimal point ("1250.50", "1,250.50"); no sign, no exponent ("1e3" is refused)."""

    default_error_messages = {"invalid": 'Must be a string holding an amount, e.g. "1,250.50".'}

    def run_validation(self, data=serializers.empty):
        text = super().run_validation(data)  # a string within max_length
        if text is None:
            return None
        text = text.strip()
        if text.startswith("-") and AMOUNT_TEXT.match(text[1:]):
            raise serializers.ValidationError("Give a positive amount.")
        if not AMOUNT_TEXT.match(text):
            raise serializers.ValidationError(
                f"“{text[:40]}” is not an amount; write it like 1250.50 or 1,250.50."
            )
        try:
            amount = Decimal(text.replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            self.fail("invalid")
        if amount >= Decimal("1e12"):
            raise serializers.ValidationError("Must be below 1,000,000,000,000.")
        if -amount.as_tuple().exponent > PLACES:
            raise serializers.ValidationError(f"At most {PLACES} decimal places.")
        return amount


@extend_schema_field(OpenApiTypes.DATETIME)
class Moment(serializers.Field):
    """An ISO 8601 date-time (no offset: UTC) or a date (its UTC midnight)."""

    default_error_messages = {"invalid": DayOrMomentField.default_error_messages["invalid"]}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not data.strip() or len(data) > 40:
            self.fail("invalid")
        try:
            start, _end = DayOrMomentField().to_python(data)
        except forms.ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return start

    def to_representation(self, value):
        return value.isoformat()


class CreditGrantIn(StrictSerializer):
    """A grant to create; fields not declared here are refused by name."""

    name = Text(
        max_length=200,
        required=False,
        help_text="Shown on invoices, e.g. “2027 commitment”; a top-up's default: Top-up.",
    )
    kind = serializers.ChoiceField(
        choices=CreditGrant.Kind.choices, required=False, help_text="Default paid."
    )
    unit = serializers.ChoiceField(
        choices=CreditGrant.Unit.choices,
        required=False,
        help_text="money (default): an amount of the customer's currency; outcomes: a "
        "number of outcomes of `outcome_definition`.",
    )
    amount = AmountText(
        max_length=40,
        help_text='Granted, positive: money with at most the currency\'s minor unit ("1,250.50"; '
        'JPY "1200"), or a number of outcomes ("500").',
    )
    currency = CurrencyCode(
        required=False, help_text="ISO 4217; the customer's currency (the default)."
    )
    outcome_definition = WholeNumber(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        help_text="Outcome grants only: the id of the outcome definition they cover.",
    )
    effective_at = Moment(
        required=False, help_text="When it may first be drawn; default: now. A date: UTC midnight."
    )
    expires_at = Moment(
        required=False, allow_null=True, help_text="After the effective date; null: never expires."
    )
    priority = WholeNumber(
        min_value=0,
        max_value=32767,
        required=False,
        help_text="Among grants expiring together, the lower is drawn first (default 100).",
    )
    applies_to_fees = Flag(
        required=False, help_text="Also pays platform fees and minimum true-ups (default false)."
    )
    note = Text(max_length=2000, single_line=False, required=False, allow_blank=True)
    reference = Text(
        max_length=REFERENCE_MAX,
        required=False,
        help_text=f"Makes a retry safe (or send the {IDEMPOTENCY_HEADER} header): sent again "
        "with the same request, the grant created first is answered (200).",
    )
    top_up = Flag(
        required=False,
        help_text="true: a top-up, billed on the customer's next invoice as a credit "
        "purchase line (with the agreement's tax).",
    )
    invoice_now = Flag(
        required=False,
        help_text="With top_up: true, the top-up is invoiced at once on its own invoice "
        "(issued, numbered and e-mailed like any) instead of on the next one.",
    )
    purchase_price = AmountText(
        max_length=40,
        required=False,
        allow_null=True,
        help_text="Top-ups: what the customer is invoiced for it (default: its amount; "
        "required for an outcome top-up).",
    )


def _units(grant: CreditGrant, value: Decimal) -> str:
    """An amount in the grant's unit as a string: money in the currency's minor unit."""
    if grant.unit == CreditGrant.Unit.MONEY:
        return str(round_line(value, grant.currency))
    return format_quantity(value)


class LedgerEntryOut(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField(help_text="In the grant's unit; negative takes.")
    value = serializers.SerializerMethodField(help_text="What it is worth in money.")
    balance_after = serializers.SerializerMethodField()
    invoice_number = serializers.CharField(source="invoice.number", default=None, allow_null=True)
    credit_note_number = serializers.CharField(
        source="credit_note.number", default=None, allow_null=True
    )

    class Meta:
        model = CreditLedgerEntry
        fields = (
            "id",
            "kind",
            "amount",
            "value",
            "balance_after",
            "invoice",
            "invoice_number",
            "credit_note",
            "credit_note_number",
            "at",
            "note",
        )

    def get_amount(self, entry: CreditLedgerEntry) -> str:
        return _units(entry.grant, entry.amount)

    def get_value(self, entry: CreditLedgerEntry) -> str:
        return str(round_line(entry.value, entry.grant.currency))

    def get_balance_after(self, entry: CreditLedgerEntry) -> str:
        return _units(entry.grant, entry.balance_after)


class CreditGrantOut(serializers.ModelSerializer):
    customer_id = serializers.CharField(source="customer.external_id")
    amount = serializers.SerializerMethodField(
        help_text="Granted: money in the currency's minor unit, or a number of outcomes."
    )
    remaining = serializers.SerializerMethodField(help_text="What is left, in the same unit.")
    purchase_price = serializers.SerializerMethodField()
    purchase_invoice_number = serializers.CharField(
        source="purchase_invoice.number",
        default=None,
        allow_null=True,
        help_text="Top-ups: the invoice that bills it; null while it waits for one.",
    )
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    ledger = serializers.SerializerMethodField(help_text="This grant with its ledger entries.")

    class Meta:
        model = CreditGrant
        fields = (
            "id",
            "customer_id",
            "name",
            "kind",
            "unit",
            "currency",
            "outcome_definition",
            "amount",
            "remaining",
            "purchase_price",
            "purchase_invoice_number",
            "effective_at",
            "expires_at",
            "priority",
            "applies_to_fees",
            "source",
            "reference",
            "note",
            "created_at",
            "created_by",
            "ledger",
        )

    def get_amount(self, grant: CreditGrant) -> str:
        return _units(grant, grant.amount)

    def get_remaining(self, grant: CreditGrant) -> str:
        return _units(grant, grant.remaining)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_purchase_price(self, grant: CreditGrant):
        if grant.purchase_price is None:
            return None
        return str(round_line(grant.purchase_price, grant.currency))

    def get_ledger(self, grant: CreditGrant) -> str:
        return reverse("credit-grant", args=[grant.pk])


class CreditGrantWithLedgerOut(CreditGrantOut):
    entries = serializers.SerializerMethodField()

    class Meta(CreditGrantOut.Meta):
        fields = (*CreditGrantOut.Meta.fields, "entries")

    @extend_schema_field(LedgerEntryOut(many=True))
    def get_entries(self, grant: CreditGrant):
        entries = grant.entries.select_related("invoice", "credit_note").order_by("pk")
        for entry in entries:
            entry.grant = grant  # its unit and currency, without a query per entry
        return LedgerEntryOut(entries, many=True).data
