"""The pricing lab's change of a partial rule: an outcome's partials charged at another
fixed fraction, not at all, or at a ratio of two data fields of each signal, on the
marks an invoice stored (billing/simulations.py replays them)."""

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import F

from agents.models import Signal
from billing.models import BilledSignal, PriceAgreement
from billing.rating import MARK_COLUMNS, Marks, _q, ratio_fraction


@dataclass(frozen=True)
class Ratio:
    """A proposed ratio partial rule: partials charged numerator / denominator of each
    signal's data fields (between 0 and 1), as rating.ratio_fraction reads them."""

    numerator: str
    denominator: str


def partials_check(agreement: PriceAgreement, fractions: dict[int, Decimal | Ratio]) -> None:
    """A proposed partial rule (a fixed fraction, or a Ratio) must be of an outcome the
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


def marks_with_partials(marks: Marks, fractions: dict[int, Decimal | Ratio] | None) -> Marks:
    """These marks with the partials of some outcome definitions charged under another
    rule (`fractions`: definition id -> a fixed fraction, 0: partials are not charged;
    or a Ratio, read from each partial's signal by the expression a close uses): the
    pricing lab's change of a partial rule. A mark keeps its outcome; only its fraction
    and whether it counts change. For a per-workflow outcome, which outcome of a
    workflow counts is decided again as its close decided it (rating.Marks.preview),
    under the proposed rule: the first chargeable one of its invoice, unless the
    workflow has a disputed outcome there, or an earlier invoice (of any customer) has a
    chargeable or disputed outcome of it. The marks must be stored ones (an issued
    invoice's): their invoice is read from the marks table."""
    if not fractions:
        return marks
    when_fraction, when_counted, fraction_params, counted_params = [], [], [], []
    joins, join_params = [], []
    for definition_id, fraction in fractions.items():
        match = "WHEN m.outcome_definition_id = %s AND m.outcome = %s"
        if isinstance(fraction, Ratio):
            alias = f"r{len(joins)}"
            sql, params = _ratio_query(fraction)
            joins.append(f"LEFT JOIN ({sql}) {alias} ON {alias}.of_signal = m.signal_id")
            join_params += params
            when_fraction.append(f"{match} THEN {alias}.fraction")
            fraction_params += [definition_id, BilledSignal.Outcome.PARTIAL]
        else:
            when_fraction.append(f"{match} THEN CAST(%s AS NUMERIC)")
            fraction_params += [definition_id, BilledSignal.Outcome.PARTIAL, str(fraction)]
        sql, params = _per_workflow_counted(bool(fraction))
        when_counted.append(f"WHEN m.outcome_definition_id = %s AND m.per_workflow THEN {sql}")
        counted_params += [definition_id, *params]
        when_counted.append(f"{match} THEN {'TRUE' if fraction else 'FALSE'}")
        counted_params += [definition_id, BilledSignal.Outcome.PARTIAL]
    columns = []
    for name in MARK_COLUMNS:
        if name == "fraction":
            columns.append(f"CASE {' '.join(when_fraction)} ELSE m.fraction END AS fraction")
        elif name == "counted":
            columns.append(f"CASE {' '.join(when_counted)} ELSE m.counted END AS counted")
        else:
            columns.append(f"m.{_q(name)}")
    sql = f"SELECT {', '.join(columns)} FROM ({marks.sql}) m {' '.join(joins)}"
    return Marks(sql, (*fraction_params, *counted_params, *marks.params, *join_params))


def _ratio_query(ratio: Ratio) -> tuple[str, tuple]:
    """Each signal's id and fraction under the ratio (a subquery the database reads by
    the signal's primary key)."""
    fraction = ratio_fraction(ratio.numerator, ratio.denominator)
    query = Signal.objects.order_by().annotate(of_signal=F("pk"), fraction=fraction)
    query = query.values("of_signal", "fraction")
    return query.query.sql_with_params()


def _per_workflow_counted(charged: bool) -> tuple[str, list]:
    """Whether mark `m` of a per-workflow outcome counts under a rule that charges
    partials (`charged`) or not: as the close's window (rating.Marks.preview) decided,
    its invoice's other marks and earlier invoices' read from the marks table."""
    table = _q(BilledSignal._meta.db_table)
    Outcome = BilledSignal.Outcome

    def chargeable(alias: str) -> str:
        partial = f" OR {alias}.outcome = %s" if charged else ""
        return f"({alias}.outcome = %s{partial})"

    def chargeable_params() -> list:
        return [Outcome.SUCCESS, Outcome.PARTIAL] if charged else [Outcome.SUCCESS]

    sql = (
        f"CASE WHEN NOT {chargeable('m')} THEN FALSE "
        "WHEN m.workflow_id IS NULL THEN TRUE "
        f"WHEN EXISTS (SELECT 1 FROM {table} s JOIN {table} x "
        "ON x.outcome_definition_id = s.outcome_definition_id "
        "AND x.workflow_id = s.workflow_id AND x.per_workflow "
        "WHERE s.signal_id = m.signal_id AND ("
        f"(x.invoice_id = s.invoice_id AND ((x.signal_id < s.signal_id AND {chargeable('x')}) "
        "OR x.outcome = %s)) "
        f"OR (x.invoice_id < s.invoice_id AND ({chargeable('x')} OR x.outcome = %s)))) "
        "THEN FALSE ELSE TRUE END"
    )
    params = [
        *chargeable_params(),
        *chargeable_params(),
        Outcome.DISPUTED,
        *chargeable_params(),
        Outcome.DISPUTED,
    ]
    return sql, params
