"""The pricing lab's change of a partial rule: an outcome's partials charged at another
fixed fraction, not at all, or at a ratio of two data fields of each signal, on the
marks an invoice stored (billing/simulations.py replays them)."""

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.db.models.lookups import GreaterThan, IsNull

from agents.models import Signal
from billing.models import BilledSignal, PriceAgreement
from billing.models.outcomes import DataNumber
from billing.rating import MARK_COLUMNS, Marks, _q, ratio_fraction

# A proposed rule that does not charge partials.
NOT_CHARGED = "none"


@dataclass(frozen=True)
class Ratio:
    """A proposed ratio partial rule: partials charged numerator / denominator of each
    signal's data fields (between 0 and 1), as rating.ratio_fraction reads them."""

    numerator: str
    denominator: str


def partials_check(agreement: PriceAgreement, fractions: dict[int, Decimal | Ratio]) -> None:
    """A proposed partial rule (NOT_CHARGED, a fixed fraction, or a Ratio) must be of an outcome the
    agreement prices, a fraction between 0 and 1, or a ratio of two named data fields
    (ValidationError naming it)."""
    if not fractions:
        return
    definitions = {
        p.outcome_definition_id: p.outcome_definition
        for p in agreement.prices.select_related("outcome_definition")
    }
    for definition_id, fraction in fractions.items():
        definition = definitions.get(definition_id)
        if definition is None:
            raise ValidationError({"partial rule": "This outcome is not priced by the agreement."})
        if fraction == NOT_CHARGED:
            continue
        if isinstance(fraction, Ratio):
            if not (fraction.numerator and fraction.denominator):
                raise ValidationError(
                    {
                        f"{definition.name}: ratio": "Name the data fields of the numerator "
                        "and the denominator, e.g. steps_done and steps_total."
                    }
                )
            continue
        if not (0 <= fraction <= 1):
            raise ValidationError(
                {f"{definition.name}: partial fraction": "Give a fraction from 0 to 1, e.g. 0.4."}
            )


def marks_with_partials(marks: Marks, fractions: dict | None) -> Marks:
    """These marks with the partials of some outcome definitions rated under another
    rule (`fractions`: definition id -> NOT_CHARGED, a fixed fraction, or a Ratio): the
    pricing lab's change of a partial rule. Under a Ratio, a partial's fraction is read
    from its signal by the close's expression, and one whose denominator is missing or
    not above 0, or whose numerator is missing, is a failure, as a close would make it.
    For a per-workflow outcome, which outcome of a workflow counts is decided again as
    its close decided it (rating.Marks.preview), under the proposed rule: the first
    chargeable one of its invoice, unless the workflow has a disputed outcome there, or
    an earlier invoice has a chargeable (under the rule, for this price; counted, for
    other agreements', whose rule is not simulated) or disputed outcome of it. The
    marks must be stored ones (an issued invoice's): their invoice is read from the
    marks table. (A mark a close made a failure stays one: switching from a ratio, a
    partial whose ratio was missing is not made a partial again.)"""
    if not fractions:
        return marks
    Outcome = BilledSignal.Outcome
    outcome_when, fraction_when, counted_when = [], [], []
    outcome_params, fraction_params, counted_params = [], [], []
    joins, join_params = [], []
    for definition_id, rule in fractions.items():
        partial = "m.outcome_definition_id = %s AND m.outcome = %s"
        ratio = None
        if isinstance(rule, Ratio):
            alias = f"r{len(joins)}"
            ratio = _ratio_query(rule)
            joins.append(f"LEFT JOIN ({ratio[0]}) {alias} ON {alias}.of_signal = m.signal_id")
            join_params += ratio[1]
            outcome_when.append(f"WHEN {partial} AND {alias}.valid IS NULL THEN %s")
            outcome_params += [definition_id, Outcome.PARTIAL, Outcome.FAILURE]
            fraction_when.append(f"WHEN {partial} THEN COALESCE({alias}.fraction, 0)")
            fraction_params += [definition_id, Outcome.PARTIAL]
        elif rule != NOT_CHARGED:
            fraction_when.append(f"WHEN {partial} THEN CAST(%s AS NUMERIC)")
            fraction_params += [definition_id, Outcome.PARTIAL, str(rule)]
        charged = rule != NOT_CHARGED
        sql, params = _per_workflow_counted(charged, ratio)
        counted_when.append(f"WHEN m.outcome_definition_id = %s AND m.per_workflow THEN {sql}")
        counted_params += [definition_id, *params]
        counted_when.append(f"WHEN {partial} THEN {'TRUE' if charged else 'FALSE'}")
        counted_params += [definition_id, Outcome.PARTIAL]
        counted_when.append("WHEN m.outcome_definition_id = %s AND m.outcome = %s THEN FALSE")
        counted_params += [definition_id, Outcome.FAILURE]

    def case(name: str, whens: list) -> str:
        return f"CASE {' '.join(whens)} ELSE m.{name} END AS {name}" if whens else f"m.{name}"

    # First the outcome and fraction under the rule, then whether each mark counts.
    rated = [
        case(name, {"outcome": outcome_when, "fraction": fraction_when}.get(name, []))
        if name in ("outcome", "fraction")
        else f"m.{_q(name)}"
        for name in MARK_COLUMNS
    ]
    inner = f"SELECT {', '.join(rated)} FROM ({marks.sql}) m {' '.join(joins)}"
    counted = [
        case(name, counted_when) if name == "counted" else f"m.{_q(name)}" for name in MARK_COLUMNS
    ]
    sql = f"SELECT {', '.join(counted)} FROM ({inner}) m"
    params = (*outcome_params, *fraction_params, *marks.params, *join_params)
    return Marks(sql, (*counted_params, *params))


def _ratio_query(ratio: Ratio) -> tuple[str, tuple]:
    """Each signal's id, whether the ratio reads on it (`valid` 1, else NULL: a
    denominator missing or not above 0, or no numerator) and its fraction then (a
    subquery the database reads by the signal's primary key)."""
    numerator, denominator = DataNumber(ratio.numerator), DataNumber(ratio.denominator)
    readable = Q(GreaterThan(denominator, Value(0))) & Q(IsNull(numerator, False))
    query = Signal.objects.order_by().annotate(
        of_signal=F("pk"),
        valid=Case(When(readable, then=Value(1)), output_field=IntegerField()),
        fraction=Case(When(readable, then=ratio_fraction(ratio.numerator, ratio.denominator))),
    )
    return query.values("of_signal", "valid", "fraction").query.sql_with_params()


def _per_workflow_counted(charged: bool, ratio: tuple | None) -> tuple[str, list]:
    """Whether mark `m` (its outcome under the rule) of a per-workflow outcome counts
    under a rule that charges partials (`charged`) or not, with `ratio` (its subquery)
    deciding which stored partials are still partials: as the close's window
    (rating.Marks.preview) decided, its invoice's other marks and earlier invoices' read
    from the marks table."""
    table = _q(BilledSignal._meta.db_table)
    Outcome = BilledSignal.Outcome

    def chargeable(alias: str, readable: str = "") -> tuple[str, list]:
        if not charged:
            return f"({alias}.outcome = %s)", [Outcome.SUCCESS]
        return (
            f"({alias}.outcome = %s OR ({alias}.outcome = %s{readable}))",
            [Outcome.SUCCESS, Outcome.PARTIAL],
        )

    readable, join, join_params = "", "", []
    if ratio is not None:
        join, join_params = (
            f"LEFT JOIN ({ratio[0]}) rx ON rx.of_signal = x.signal_id ",
            list(ratio[1]),
        )
        readable = " AND rx.valid IS NOT NULL"
    m_sql, m_params = chargeable("m")
    x_sql, x_params = chargeable("x", readable)
    sql = (
        f"CASE WHEN NOT {m_sql} THEN FALSE "
        "WHEN m.workflow_id IS NULL THEN TRUE "
        f"WHEN EXISTS (SELECT 1 FROM {table} s JOIN {table} x "
        "ON x.outcome_definition_id = s.outcome_definition_id "
        f"AND x.workflow_id = s.workflow_id AND x.per_workflow {join}"
        "WHERE s.signal_id = m.signal_id AND ("
        f"(x.invoice_id = s.invoice_id AND ((x.signal_id < s.signal_id AND {x_sql}) "
        "OR x.outcome = %s)) "
        "OR (x.invoice_id < s.invoice_id AND x.price_id = s.price_id "
        f"AND ({x_sql} OR x.outcome = %s)) "
        "OR (x.invoice_id < s.invoice_id AND x.price_id <> s.price_id "
        "AND (x.counted OR x.outcome = %s)))) "
        "THEN FALSE ELSE TRUE END"
    )
    params = [
        *m_params,
        *join_params,
        *x_params,
        Outcome.DISPUTED,
        *x_params,
        Outcome.DISPUTED,
        Outcome.DISPUTED,
    ]
    return sql, params
