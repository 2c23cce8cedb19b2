from datetime import timedelta
from decimal import Decimal
from numbers import Number

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q, Value
from django.db.models.lookups import (
    GreaterThan,
    GreaterThanOrEqual,
    IsNull,
    LessThan,
    LessThanOrEqual,
)
from simple_history.models import HistoricalRecords

from customers.currencies import CURRENCY_CHOICES, validate_currency_code
from customers.models import currency_check

MONEY = {"max_digits": 20, "decimal_places": 8}
NON_NEGATIVE = [MinValueValidator(0)]


class DataNumber(models.Func):
    """A signal's data field as a number, or NULL when it is missing or not a number.

    Comparing or casting raw JSON would match or fail on text like "abc"; this
    never does, on PostgreSQL or SQLite.
    """

    output_field = models.DecimalField(max_digits=30, decimal_places=10)

    def __init__(self, field_path: str, column: str = "data"):
        self.parts = field_path.split(".")
        super().__init__(models.F(column))

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        sql = (
            f"CASE WHEN jsonb_typeof({column} #> %s::text[]) = 'number' "
            f"THEN ({column} #>> %s::text[])::numeric END"
        )
        return sql, (*params, self.parts, *params, self.parts)

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        path = "$." + ".".join('"' + part.replace('"', "") + '"' for part in self.parts)
        sql = (
            f"CASE WHEN json_type({column}, %s) IN ('integer', 'real') "
            f"THEN CAST(json_extract({column}, %s) AS REAL) END"
        )
        return sql, (*params, path, *params, path)


def data_lookup(field_path: str) -> str:
    """`result.status` -> `data__result__status`, the ORM path into a signal's data."""
    return "data__" + "__".join(field_path.split("."))


class OutcomeDefinition(models.Model):
    """What an agent achieved that a customer pays for, and how to tell success."""

    class PartialRule(models.TextChoices):
        NONE = "none", "Partials are not charged"
        FIXED = "fixed", "A fixed fraction of the price"
        RATIO = "ratio", "The ratio of two data fields (clamped to 0..1)"

    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="outcomes")
    name = models.CharField(max_length=200)
    event_name = models.CharField(
        max_length=200, help_text="The signal event_name that completes this outcome."
    )
    description = models.TextField(blank=True)
    partial_rule = models.CharField(
        max_length=10, choices=PartialRule.choices, default=PartialRule.NONE
    )
    partial_fraction = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="For a fixed fraction: 0.4 charges a partial at 40% of the price.",
    )
    ratio_numerator_field = models.CharField(
        max_length=200, blank=True, help_text="For a ratio: data field, e.g. steps_done."
    )
    ratio_denominator_field = models.CharField(
        max_length=200, blank=True, help_text="For a ratio: data field, e.g. steps_total."
    )
    per_workflow = models.BooleanField(
        default=False,
        help_text="Count at most one outcome per workflow_id, ever, and attribute every cost "
        "recorded under the workflow to it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["agent__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "name"], name="outcome_name_unique_per_agent"),
            models.CheckConstraint(
                condition=Q(partial_rule__in=["none", "fixed", "ratio"]),
                name="outcome_partial_rule_valid",
            ),
            models.CheckConstraint(
                condition=Q(partial_fraction__isnull=True)
                | Q(partial_fraction__gte=0, partial_fraction__lte=1),
                name="outcome_partial_fraction_0_1",
            ),
            models.CheckConstraint(
                condition=~Q(partial_rule="fixed") | Q(partial_fraction__isnull=False),
                name="outcome_fixed_rule_has_fraction",
            ),
            models.CheckConstraint(
                condition=~Q(partial_rule="ratio")
                | (~Q(ratio_numerator_field="") & ~Q(ratio_denominator_field="")),
                name="outcome_ratio_rule_has_fields",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.agent.external_id if self.agent_id else '?'})"

    def clean(self) -> None:
        errors = {}
        if self.partial_rule == self.PartialRule.FIXED and self.partial_fraction is None:
            errors["partial_fraction"] = "Give the fraction of the price a partial is charged."
        if self.partial_rule == self.PartialRule.RATIO:
            if not self.ratio_numerator_field:
                errors["ratio_numerator_field"] = "Name the data field of the numerator."
            if not self.ratio_denominator_field:
                errors["ratio_denominator_field"] = "Name the data field of the denominator."
        if errors:
            raise ValidationError(errors)

    def _criteria_q(self, kind: str, criteria=None) -> Q:
        if criteria is None:
            criteria = self.criteria.all()
        q = Q()
        for criterion in criteria:
            if criterion.kind == kind:
                q &= criterion.as_q()
        return q

    def success_q(self, criteria=None) -> Q:
        """Signals of this outcome's event that meet every success criterion."""
        return Q(event_name=self.event_name) & self._criteria_q(
            OutcomeCriterion.Kind.SUCCESS, criteria
        )

    def partial_q(self, criteria=None) -> Q:
        """Signals that are not a success but meet every partial criterion.

        A ratio rule with a missing or non-numeric numerator, or a missing, zero or
        negative denominator, is a failure.
        Without partial criteria there are no partials.
        """
        if criteria is None:
            criteria = list(self.criteria.all())
        if not any(c.kind == OutcomeCriterion.Kind.PARTIAL for c in criteria):
            return Q(pk__in=[])
        q = (
            Q(event_name=self.event_name)
            & ~self.success_q(criteria)
            & self._criteria_q(OutcomeCriterion.Kind.PARTIAL, criteria)
        )
        if self.partial_rule == self.PartialRule.RATIO:
            q &= Q(GreaterThan(DataNumber(self.ratio_denominator_field), Value(0)))
            q &= Q(IsNull(DataNumber(self.ratio_numerator_field), False))
        return q


class OutcomeCriterion(models.Model):
    """One condition on a signal's data: field path, operator, value. All must hold."""

    class Kind(models.TextChoices):
        SUCCESS = "success", "Success"
        PARTIAL = "partial", "Partial"

    class Operator(models.TextChoices):
        EQ = "eq", "equals"
        NE = "ne", "does not equal (a missing field counts as not equal)"
        GT = "gt", "greater than"
        GTE = "gte", "greater than or equal"
        LT = "lt", "less than"
        LTE = "lte", "less than or equal"
        IN = "in", "is one of"
        EXISTS = "exists", "exists (true) / is missing (false)"

    definition = models.ForeignKey(
        OutcomeDefinition, on_delete=models.CASCADE, related_name="criteria"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SUCCESS)
    field_path = models.CharField(
        max_length=200, help_text="A key of the signal's data; dots go deeper: result.status"
    )
    operator = models.CharField(max_length=10, choices=Operator.choices, default=Operator.EQ)
    value = models.JSONField(
        null=True,
        blank=True,
        help_text='JSON: "resolved", 3, true, ["a", "b"] for "is one of", true/false for "exists".',
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["definition", "kind", "id"]
        verbose_name_plural = "outcome criteria"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["success", "partial"]), name="criterion_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(operator__in=["eq", "ne", "gt", "gte", "lt", "lte", "in", "exists"]),
                name="criterion_operator_valid",
            ),
            models.CheckConstraint(condition=~Q(field_path=""), name="criterion_field_path_set"),
        ]

    def __str__(self) -> str:
        return f"{self.field_path} {self.operator} {self.value!r}"

    def clean(self) -> None:
        errors = {}
        path = self.field_path or ""
        if not path or any(not part.strip() for part in path.split(".")):
            errors["field_path"] = (
                "Give a data key such as status or result.status (no empty parts)."
            )
        value, op = self.value, self.operator
        is_number = isinstance(value, Number) and not isinstance(value, bool)
        if op in {"gt", "gte", "lt", "lte"} and not is_number:
            errors["value"] = (
                f"“{self.get_operator_display()}” compares numbers: give a number such as 3 or 0.5."
            )
        elif op == "in" and (not isinstance(value, list) or not value):
            errors["value"] = (
                '“is one of” needs a non-empty JSON list, e.g. ["resolved", "closed"].'
            )
        elif op == "in" and any(isinstance(v, dict | list) for v in value):
            errors["value"] = (
                "“is one of” takes a list of plain values (text, numbers, true/false)."
            )
        elif op == "exists" and not isinstance(value, bool):
            errors["value"] = "“exists” takes true (the field is present) or false (it is missing)."
        elif op in {"eq", "ne"} and isinstance(value, dict | list):
            errors["value"] = "Compare with a plain value (text, a number, true/false or null)."
        if errors:
            raise ValidationError(errors)

    def as_q(self) -> Q:
        """This criterion as an ORM filter on the signal's data (PostgreSQL and SQLite)."""
        lookup = data_lookup(self.field_path)
        parts = self.field_path.split(".")
        if len(parts) == 1:
            present = Q(data__has_key=parts[0])
        else:
            present = Q(**{f"{data_lookup('.'.join(parts[:-1]))}__has_key": parts[-1]})
        op, value = self.operator, self.value
        if op == "exists":
            return present if value else ~present
        if op == "eq":
            return Q(**{lookup: value})
        if op == "ne":
            return ~present | (present & ~Q(**{lookup: value}))
        if op == "in":
            return Q(**{f"{lookup}__in": value})
        # Numeric comparisons only ever match numbers (text such as "abc" never does).
        comparison = {
            "gt": GreaterThan,
            "gte": GreaterThanOrEqual,
            "lt": LessThan,
            "lte": LessThanOrEqual,
        }[op]
        return Q(comparison(DataNumber(self.field_path), Value(Decimal(str(value)))))


class PriceAgreement(models.Model):
    """What one customer pays, edited by account managers. Changes are audited."""

    class Cadence(models.TextChoices):
        MONTHLY = "monthly", "Monthly"
        QUARTERLY = "quarterly", "Quarterly"
        ANNUAL = "annual", "Annual"

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="agreements"
    )
    name = models.CharField(max_length=200)
    currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, default="USD", validators=[validate_currency_code]
    )
    starts_on = models.DateField()
    ends_on = models.DateField(
        null=True, blank=True, help_text="Last day covered (inclusive). Empty: no end."
    )
    cadence = models.CharField(max_length=10, choices=Cadence.choices, default=Cadence.MONTHLY)
    platform_fee = models.DecimalField(
        validators=NON_NEGATIVE, **MONEY, default=Decimal(0), help_text="Charged every period."
    )
    minimum_commitment = models.DecimalField(
        validators=NON_NEGATIVE,
        **MONEY,
        default=Decimal(0),
        help_text="Least a period is invoiced for outcomes; the shortfall is a true-up line.",
    )
    spend_cap = models.DecimalField(
        validators=NON_NEGATIVE,
        **MONEY,
        null=True,
        blank=True,
        help_text="Most a period is invoiced; the excess is a discount line. Empty: no cap.",
    )
    grace_period = models.DurationField(
        default=timedelta(hours=24),
        help_text="How long after a period ends late signals are waited for before closing.",
    )
    payment_terms_days = models.PositiveSmallIntegerField(
        default=30, help_text="Days from issue to due date."
    )
    margin_target = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Margin % below which the deal is flagged, e.g. 40.",
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer__name", "-starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="agreement_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(platform_fee__gte=0), name="agreement_platform_fee_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(minimum_commitment__gte=0), name="agreement_minimum_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(spend_cap__isnull=True) | Q(spend_cap__gt=0),
                name="agreement_spend_cap_positive",
            ),
            models.CheckConstraint(
                condition=Q(grace_period__gte=timedelta(0)), name="agreement_grace_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(margin_target__isnull=True)
                | Q(margin_target__gte=-100, margin_target__lte=100),
                name="agreement_margin_target_range",
            ),
            models.CheckConstraint(
                condition=Q(cadence__in=["monthly", "quarterly", "annual"]),
                name="agreement_cadence_valid",
            ),
            currency_check("currency", "agreement_currency_iso4217"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.ends_on and self.starts_on and self.ends_on < self.starts_on:
            errors["ends_on"] = "The end date must be on or after the start date."
        if (
            self.spend_cap is not None
            and self.minimum_commitment
            and self.spend_cap < self.minimum_commitment
        ):
            errors["spend_cap"] = "The spend cap cannot be below the minimum commitment."
        if errors:
            raise ValidationError(errors)


class Price(models.Model):
    """The price of one outcome definition within an agreement."""

    class Model(models.TextChoices):
        PER_OUTCOME = "per_outcome", "Per outcome (unit price × quantity)"
        GRADUATED = "graduated", "Graduated tiers (each unit at its tier's price)"
        VOLUME = "volume", "Volume tiers (all units at the reached tier's price)"
        PERCENT_OF_VALUE = "percent_of_value", "Percent of a value field"
        COST_PLUS = "cost_plus", "Cost plus markup"

    TIERED = (Model.GRADUATED, Model.VOLUME)

    agreement = models.ForeignKey(PriceAgreement, on_delete=models.CASCADE, related_name="prices")
    outcome_definition = models.ForeignKey(
        OutcomeDefinition, on_delete=models.PROTECT, related_name="prices"
    )
    model = models.CharField(max_length=20, choices=Model.choices, default=Model.PER_OUTCOME)
    unit_price = models.DecimalField(
        validators=NON_NEGATIVE,
        **MONEY,
        null=True,
        blank=True,
        help_text="Per outcome: the price of one outcome.",
    )
    percent_of_value = models.DecimalField(
        validators=NON_NEGATIVE,
        max_digits=9,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Percent of value: e.g. 8 charges 8% of the value field.",
    )
    value_field = models.CharField(
        max_length=200, blank=True, help_text="Percent of value: data field, e.g. recovered_amount."
    )
    markup_percent = models.DecimalField(
        max_digits=9,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Cost plus: e.g. 30 charges attributed cost × 1.30.",
    )
    included_quantity = models.DecimalField(
        validators=NON_NEGATIVE, **MONEY, default=Decimal(0), help_text="Free outcomes per period."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["agreement", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "outcome_definition"],
                name="price_one_per_outcome_per_agreement",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__isnull=True) | Q(unit_price__gte=0),
                name="price_unit_price_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(percent_of_value__isnull=True) | Q(percent_of_value__gte=0),
                name="price_percent_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(markup_percent__isnull=True) | Q(markup_percent__gte=-100),
                name="price_markup_not_below_minus_100",
            ),
            models.CheckConstraint(
                condition=Q(included_quantity__gte=0), name="price_included_non_negative"
            ),
            models.CheckConstraint(
                condition=~Q(model="per_outcome") | Q(unit_price__isnull=False),
                name="price_per_outcome_has_unit_price",
            ),
            models.CheckConstraint(
                condition=~Q(model="percent_of_value")
                | (Q(percent_of_value__isnull=False) & ~Q(value_field="")),
                name="price_percent_has_rate_and_field",
            ),
            models.CheckConstraint(
                condition=~Q(model="cost_plus") | Q(markup_percent__isnull=False),
                name="price_cost_plus_has_markup",
            ),
            models.CheckConstraint(
                condition=Q(
                    model__in=[
                        "per_outcome",
                        "graduated",
                        "volume",
                        "percent_of_value",
                        "cost_plus",
                    ]
                ),
                name="price_model_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.outcome_definition.name}: {self.get_model_display()}"

    def clean(self) -> None:
        errors = {}
        if self.model == self.Model.PER_OUTCOME and self.unit_price is None:
            errors["unit_price"] = "A per-outcome price needs a unit price."
        if self.model == self.Model.PERCENT_OF_VALUE:
            if self.percent_of_value is None:
                errors["percent_of_value"] = "Give the percent of the value to charge, e.g. 8."
            if not self.value_field:
                errors["value_field"] = (
                    "Name the data field holding the value, e.g. recovered_amount."
                )
        if self.model == self.Model.COST_PLUS and self.markup_percent is None:
            errors["markup_percent"] = "Give the markup in percent, e.g. 30 (0 bills cost as is)."
        if errors:
            raise ValidationError(errors)


class PriceTier(models.Model):
    """A band of quantity [from_quantity, up_to_quantity) at one unit price."""

    price = models.ForeignKey(Price, on_delete=models.CASCADE, related_name="tiers")
    from_quantity = models.DecimalField(validators=NON_NEGATIVE, **MONEY, default=Decimal(0))
    up_to_quantity = models.DecimalField(
        validators=NON_NEGATIVE,
        **MONEY,
        null=True,
        blank=True,
        help_text="Exclusive upper bound. Empty: no limit (last tier).",
    )
    unit_price = models.DecimalField(**MONEY, validators=NON_NEGATIVE)
    history = HistoricalRecords()

    class Meta:
        ordering = ["price", "from_quantity"]
        constraints = [
            models.UniqueConstraint(fields=["price", "from_quantity"], name="tier_unique_start"),
            models.CheckConstraint(
                condition=Q(from_quantity__gte=0), name="tier_from_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(up_to_quantity__isnull=True)
                | Q(up_to_quantity__gt=models.F("from_quantity")),
                name="tier_up_to_after_from",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="tier_unit_price_non_negative"
            ),
        ]

    def __str__(self) -> str:
        upper = self.up_to_quantity if self.up_to_quantity is not None else "∞"
        return f"{self.from_quantity}–{upper} @ {self.unit_price}"


class ExchangeRate(models.Model):
    """1 unit of base_currency = rate units of quote_currency, from effective_on on."""

    base_currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, validators=[validate_currency_code]
    )
    quote_currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, validators=[validate_currency_code]
    )
    rate = models.DecimalField(
        max_digits=24,
        decimal_places=12,
        validators=[MinValueValidator(Decimal("0.000000000001"))],
        help_text="How many units of the quote currency one unit of the base buys.",
    )
    effective_on = models.DateField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["base_currency", "quote_currency", "-effective_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["base_currency", "quote_currency", "effective_on"],
                name="fx_one_rate_per_pair_per_day",
            ),
            models.CheckConstraint(condition=Q(rate__gt=0), name="fx_rate_positive"),
            models.CheckConstraint(
                condition=~Q(base_currency=models.F("quote_currency")), name="fx_distinct_pair"
            ),
            currency_check("base_currency", "fx_base_iso4217"),
            currency_check("quote_currency", "fx_quote_iso4217"),
        ]

    def __str__(self) -> str:
        return f"1 {self.base_currency} = {self.rate} {self.quote_currency} ({self.effective_on})"


def tier_problems(tiers: list[tuple]) -> list[tuple[int, str, str]]:
    """What is wrong with a price's tiers, as (index, field, message) in the order entered.

    `tiers` is a list of (from_quantity, up_to_quantity or None, unit_price).
    Tiers must be entered in ascending order, start at 0, follow each other
    without gaps or overlaps, and only the last may (and must) be unbounded.
    """
    problems: list[tuple[int, str, str]] = []
    for i, (start, end, unit_price) in enumerate(tiers):
        if unit_price is not None and unit_price < 0:
            problems.append((i, "unit_price", "A tier's unit price cannot be negative."))
        if start is None:
            continue
        if start < 0:
            problems.append((i, "from_quantity", "A tier cannot start below 0."))
        if end is not None and end <= start:
            problems.append((i, "up_to_quantity", f"The tier must end above its start ({start})."))
        if i == 0:
            if start != 0:
                problems.append((i, "from_quantity", "The first tier must start at 0."))
            continue
        prev_start, prev_end, _ = tiers[i - 1]
        if prev_start is not None and start < prev_start:
            problems.append(
                (
                    i,
                    "from_quantity",
                    f"Tiers must be in ascending order: {start} comes after "
                    f"the tier starting at {prev_start}. Reorder the tiers.",
                )
            )
        elif prev_end is None:
            problems.append(
                (
                    i - 1,
                    "up_to_quantity",
                    "Only the last tier can have no upper bound; give this tier an end.",
                )
            )
        elif start < prev_end:
            problems.append(
                (
                    i,
                    "from_quantity",
                    f"This tier overlaps the one before, which runs up to "
                    f"{prev_end}. Start it at {prev_end}.",
                )
            )
        elif start > prev_end:
            problems.append(
                (
                    i,
                    "from_quantity",
                    f"Gap between tiers: the one before ends at {prev_end}. "
                    f"Start this tier at {prev_end}.",
                )
            )
    if tiers and tiers[-1][1] is not None:
        problems.append(
            (
                len(tiers) - 1,
                "up_to_quantity",
                "Leave the last tier's upper bound empty so every quantity has a price.",
            )
        )
    return problems
