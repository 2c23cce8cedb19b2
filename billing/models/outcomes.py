"""What an agent achieved that a customer pays for: outcome definitions, their criteria,
and reading a number out of a signal's data in SQL."""

from decimal import Decimal
from numbers import Number

from django.core.exceptions import ValidationError
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


class PartialRule(models.TextChoices):
    NONE = "none", "Partials are not charged"
    FIXED = "fixed", "A fixed fraction of the price"
    RATIO = "ratio", "The ratio of two data fields (clamped to 0..1)"


class Operator(models.TextChoices):
    EQ = "eq", "equals"
    NE = "ne", "does not equal (a missing field counts as not equal)"
    GT = "gt", "greater than"
    GTE = "gte", "greater than or equal"
    LT = "lt", "less than"
    LTE = "lte", "less than or equal"
    IN = "in", "is one of"
    EXISTS = "exists", "exists (true) / is missing (false)"


COMPARISONS = {
    Operator.GT: GreaterThan,
    Operator.GTE: GreaterThanOrEqual,
    Operator.LT: LessThan,
    Operator.LTE: LessThanOrEqual,
}


class CriterionKind(models.TextChoices):
    SUCCESS = "success", "Success"
    PARTIAL = "partial", "Partial"


class OutcomeDefinition(models.Model):
    """What an agent achieved that a customer pays for, and how to tell success."""

    PartialRule = PartialRule

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
    account_code = models.CharField(
        max_length=30,
        blank=True,
        help_text="Revenue account of this outcome in the accounting export (empty: the "
        "seller profile's outcome revenue account).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["agent__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "name"], name="outcome_name_unique_per_agent"),
            models.CheckConstraint(
                condition=Q(partial_rule__in=PartialRule.values),
                name="outcome_partial_rule_valid",
            ),
            models.CheckConstraint(
                condition=Q(partial_fraction__isnull=True)
                | Q(partial_fraction__gte=0, partial_fraction__lte=1),
                name="outcome_partial_fraction_0_1",
            ),
            models.CheckConstraint(
                condition=~Q(partial_rule=PartialRule.FIXED) | Q(partial_fraction__isnull=False),
                name="outcome_fixed_rule_has_fraction",
            ),
            models.CheckConstraint(
                condition=~Q(partial_rule=PartialRule.RATIO)
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

    Kind = CriterionKind

    Operator = Operator

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
                condition=Q(kind__in=CriterionKind.values), name="criterion_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(operator__in=Operator.values),
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
        if op in COMPARISONS and not is_number:
            errors["value"] = (
                f"“{self.get_operator_display()}” compares numbers: give a number such as 3 or 0.5."
            )
        elif op == Operator.IN and (not isinstance(value, list) or not value):
            errors["value"] = (
                '“is one of” needs a non-empty JSON list, e.g. ["resolved", "closed"].'
            )
        elif op == Operator.IN and any(isinstance(v, dict | list) for v in value):
            errors["value"] = (
                "“is one of” takes a list of plain values (text, numbers, true/false)."
            )
        elif op == Operator.EXISTS and not isinstance(value, bool):
            errors["value"] = "“exists” takes true (the field is present) or false (it is missing)."
        elif op in (Operator.EQ, Operator.NE) and isinstance(value, dict | list):
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
        if op == Operator.EXISTS:
            return present if value else ~present
        if op == Operator.EQ:
            return Q(**{lookup: value})
        if op == Operator.NE:
            return ~present | (present & ~Q(**{lookup: value}))
        if op == Operator.IN:
            return Q(**{f"{lookup}__in": value})
        # Numeric comparisons only ever match numbers (text such as "abc" never does).
        comparison = COMPARISONS[op]
        return Q(comparison(DataNumber(self.field_path), Value(Decimal(str(value)))))
