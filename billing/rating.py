"""Rating: which signals an invoice bills, and as what (success, partial, failure, the
fraction a partial counts, the value it carries), in SQL.

Closing writes the result as marks (`marks_insert`), one per signal, ever. A preview
reads the same SELECT without writing (`Marks.preview`), less the signals of earlier
periods that have no live invoice yet (theirs, not late signals of the previewed one).
Everything downstream (totals, attributed costs, margins) reads a `Marks` source, so
the two cannot differ.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    CharField,
    DecimalField,
    Exists,
    F,
    Min,
    OuterRef,
    Subquery,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import Cast, Greatest, Least

from agents.models import Cost, Signal
from billing.errors import ClosingError
from billing.models import (
    BilledSignal,
    BillingPeriod,
    Dispute,
    DisputedOutcome,
    Invoice,
    OutcomeDefinition,
    Price,
)
from billing.models.outcomes import DataNumber
from billing.money import ZERO, fx_rate_on, stored
from billing.periods import midnight

FRACTION = DecimalField(max_digits=12, decimal_places=8)
AMOUNT = DecimalField(max_digits=30, decimal_places=10)
Outcome = BilledSignal.Outcome
# The columns of a mark that rating and everything after it read.
MARK_COLUMNS = (
    "signal_id",
    "period_id",
    "price_id",
    "outcome_definition_id",
    "workflow_id",
    "per_workflow",
    "outcome",
    "fraction",
    "value",
    "counted",
)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def ratio_fraction(numerator: str, denominator: str):
    """A ratio partial rule's fraction of a signal: numerator / denominator of its data
    fields, kept between 0 and 1."""
    ratio = DataNumber(numerator) / DataNumber(denominator)
    return Least(Greatest(ratio, Value(ZERO)), Value(Decimal(1)), output_field=FRACTION)


def _rated(*, period: BillingPeriod, price: Price, invoice_id, unsettled_from=None):
    """The price's not-yet-billed signals up to the period's end, classified: a queryset
    of the mark columns (in the order of the INSERT) plus `chargeable`."""
    definition: OutcomeDefinition = price.outcome_definition
    agreement = period.agreement
    criteria = list(definition.criteria.all())
    success, partial = definition.success_q(criteria), definition.partial_q(criteria)
    rule = definition.partial_rule
    if rule == OutcomeDefinition.PartialRule.FIXED:
        partial_fraction = Value(definition.partial_fraction, output_field=FRACTION)
    elif rule == OutcomeDefinition.PartialRule.RATIO:
        partial_fraction = ratio_fraction(
            definition.ratio_numerator_field, definition.ratio_denominator_field
        )
    else:
        partial_fraction = Value(ZERO, output_field=FRACTION)
    charged = success | partial if rule != OutcomeDefinition.PartialRule.NONE else success
    # An outcome whose dispute was accepted is never charged, late or not (served by the
    # unique key of the disputed signal).
    disputed = Exists(
        DisputedOutcome.objects.filter(
            signal_id=OuterRef("pk"), dispute__state=Dispute.State.ACCEPTED
        )
    )
    origin = (
        BillingPeriod.objects.filter(
            agreement=agreement,
            starts_at__lte=OuterRef("occurred_at"),
            ends_at__gt=OuterRef("occurred_at"),
        )
        .order_by()
        .values("pk")[:1]
    )
    # NULLs typed: inside a subquery PostgreSQL would take an untyped NULL for text.
    value = DataNumber(price.value_field) if price.value_field else Cast(Value(None), AMOUNT)
    candidates = (
        Signal.objects.filter(
            agent_id=definition.agent_id,
            customer_id=agreement.customer_id,
            event_name=definition.event_name,
            occurred_at__gte=midnight(agreement.starts_on),
            occurred_at__lt=period.ends_at,
        )
        .exclude(Exists(BilledSignal.objects.filter(signal_id=OuterRef("pk"))))
        .order_by()
    )
    if unsettled_from is not None:  # earlier periods without an invoice keep their signals
        candidates = candidates.exclude(
            occurred_at__gte=unsettled_from, occurred_at__lt=period.starts_at
        )
    columns = {
        "signal_id": F("pk"),
        "invoice_id": Cast(Value(invoice_id), BigIntegerField()),
        # Most signals belong to this period; only late ones need the period lookup.
        "period_id": Case(
            When(occurred_at__gte=period.starts_at, then=Value(period.pk)),
            default=Subquery(origin),
            output_field=BigIntegerField(),
        ),
        "price_id": Value(price.pk),
        "outcome_definition_id": Value(definition.pk),
        "workflow_id": F("workflow_id"),
        "per_workflow": Value(definition.per_workflow, output_field=BooleanField()),
        "outcome": Case(
            When(disputed, then=Value(Outcome.DISPUTED)),
            When(success, then=Value(Outcome.SUCCESS)),
            When(partial, then=Value(Outcome.PARTIAL)),
            default=Value(Outcome.FAILURE),
            output_field=CharField(),
        ),
        "fraction": Case(
            When(disputed, then=Value(ZERO, output_field=FRACTION)),
            When(success, then=Value(Decimal(1), output_field=FRACTION)),
            When(partial, then=partial_fraction),
            default=Value(ZERO, output_field=FRACTION),
            output_field=FRACTION,
        ),
        "value": value,
        # Per-workflow outcomes are counted afterwards: the first of each workflow.
        "counted": Case(
            When(disputed, then=Value(False)),
            When(charged, then=Value(not definition.per_workflow)),
            default=Value(False),
            output_field=BooleanField(),
        ),
        "chargeable": Case(
            When(disputed, then=Value(False)),
            When(charged, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
    }
    # Each column an annotation, so the SELECT keeps this order.
    aliases = {f"c_{name}": expr for name, expr in columns.items()}
    return candidates.annotate(**aliases).values_list(*aliases)


def prices_of(agreement) -> list[Price]:
    """The agreement's prices with their outcome definitions (and tiers), as rated."""
    prices = list(agreement.prices.select_related("outcome_definition", "tax_rate"))
    prefetch_related_objects([p for p in prices if p.model in Price.TIERED], "tiers")
    return prices


def marks_insert(*, invoice: Invoice, period: BillingPeriod, price: Price) -> None:
    """Mark every not-yet-billed signal of the price's outcome up to the period's end as
    billed by this invoice, classified in SQL (INSERT ... SELECT)."""
    select = _rated(period=period, price=price, invoice_id=invoice.pk)
    sql, params = select.query.sql_with_params()
    names = [name for name in MARK_COLUMNS if name != "signal_id"]
    insert = ", ".join(_q(name) for name in ("signal_id", "invoice_id", *names))
    picked = ", ".join(f"r.c_{name}" for name in ("signal_id", "invoice_id", *names))
    with connection.cursor() as cursor:
        # NOT EXISTS leaves out the signals marked already; ON CONFLICT skips any that
        # a concurrent transaction marks meanwhile instead of failing the close.
        cursor.execute(
            f"INSERT INTO {_q(BilledSignal._meta.db_table)} ({insert}) "
            # (WHERE TRUE: SQLite would read ON as the start of a join constraint.)
            f"SELECT {picked} FROM ({sql}) r WHERE TRUE ON CONFLICT (signal_id) DO NOTHING",
            params,
        )
    if price.outcome_definition.per_workflow:
        _count_first_outcome_of_each_workflow(invoice=invoice, definition=price.outcome_definition)


def _count_first_outcome_of_each_workflow(*, invoice, definition) -> None:
    """Per-workflow outcomes: of the chargeable marks just made, count the first of each
    workflow that was never counted before (a database constraint keeps it once, ever)
    and has no disputed outcome: disputing a workflow's outcome never lets a later step
    of it be counted instead (at most once per workflow, ever)."""
    chargeable = BilledSignal.objects.filter(
        invoice=invoice,
        outcome_definition=definition,
        outcome__in=[Outcome.SUCCESS, Outcome.PARTIAL],
    )
    if definition.partial_rule == OutcomeDefinition.PartialRule.NONE:
        chargeable = chargeable.filter(outcome=Outcome.SUCCESS)
    # The same conditions as the partial unique index, which serves this lookup.
    already = BilledSignal.objects.filter(
        outcome_definition=definition,
        workflow_id=OuterRef("workflow_id"),
        counted=True,
        per_workflow=True,
    )
    disputed = BilledSignal.objects.filter(
        outcome_definition=definition,
        workflow_id=OuterRef("workflow_id"),
        outcome=Outcome.DISPUTED,
        per_workflow=True,
    )
    firsts = (
        chargeable.filter(workflow_id__isnull=False)
        .exclude(Exists(already))
        .exclude(Exists(disputed))
        .values("workflow_id")
        .annotate(first=Min("signal_id"))
        .values("first")
    )
    BilledSignal.objects.filter(signal_id__in=Subquery(firsts)).update(counted=True)
    # Signals of a per-workflow outcome without a workflow id are outcomes on their own.
    chargeable.filter(workflow_id__isnull=True).update(counted=True)


@dataclass(frozen=True)
class Marks:
    """A SQL source of mark rows (the MARK_COLUMNS): an invoice's stored marks, or the
    marks a close would make, computed without writing."""

    sql: str
    params: tuple = ()

    @classmethod
    def of_invoice(cls, invoice_id: int) -> "Marks":
        columns = ", ".join(_q(name) for name in MARK_COLUMNS)
        table = _q(BilledSignal._meta.db_table)
        return cls(f"SELECT {columns} FROM {table} WHERE invoice_id = %s", (invoice_id,))

    @classmethod
    def billed_before(cls, *, price_id, period_id, exclude_invoice_id, as_issued=None) -> "Marks":
        """What issued invoices billed for a price and period (other than `exclude`); with
        `as_issued` (simulations), what they had when it was issued: earlier invoices,
        void ones only if voided after it."""
        columns = ", ".join(f"m.{_q(name)}" for name in MARK_COLUMNS)
        sql = (
            f"SELECT {columns} FROM {_q(BilledSignal._meta.db_table)} m "
            f"JOIN {_q(Invoice._meta.db_table)} i ON i.id = m.invoice_id "
            "WHERE m.price_id = %s AND m.period_id = %s AND m.invoice_id <> %s AND "
        )
        params = (price_id, period_id, exclude_invoice_id or 0, Invoice.Status.VOID)
        if as_issued is None:
            return cls(sql + "i.status <> %s", params)
        sql += "i.id < %s AND (i.status <> %s OR i.voided_at > %s)"
        return cls(sql, (*params[:3], as_issued.pk, *params[3:], as_issued.issued_at))

    @classmethod
    def preview(cls, *, period: BillingPeriod, prices, unsettled_from=None) -> "Marks":
        """The marks closing `period` now would make, as a read: the same SELECT as
        `marks_insert`, per-workflow outcomes counted by a window instead of an UPDATE
        (a workflow with a disputed outcome, here or marked before, is never counted).
        The window partitions by outcome definition: one price per definition in an
        agreement (price_one_per_outcome_per_agreement) keeps a signal in one SELECT."""
        selects, params = [], []
        picked = ", ".join(f"r.c_{name} AS {name}" for name in (*MARK_COLUMNS, "chargeable"))
        for price in prices:
            select = _rated(
                period=period, price=price, invoice_id=None, unsettled_from=unsettled_from
            )
            sql, select_params = select.query.sql_with_params()
            selects.append(f"SELECT {picked} FROM ({sql}) r")
            params += select_params
        if not selects:
            return cls.empty()
        table = _q(BilledSignal._meta.db_table)
        plain = ", ".join(f"u.{name}" for name in MARK_COLUMNS if name != "counted")
        sql = (
            f"SELECT {plain}, CASE "
            "WHEN NOT u.per_workflow THEN u.counted "
            "WHEN NOT u.chargeable THEN FALSE "
            "WHEN u.workflow_id IS NULL THEN TRUE "
            "WHEN u.signal_id = MIN(CASE WHEN u.chargeable THEN u.signal_id END) "
            "OVER (PARTITION BY u.outcome_definition_id, u.workflow_id) "
            "AND SUM(CASE WHEN u.outcome = %s THEN 1 ELSE 0 END) "
            "OVER (PARTITION BY u.outcome_definition_id, u.workflow_id) = 0 "
            f"AND NOT EXISTS (SELECT 1 FROM {table} b "
            "WHERE b.outcome_definition_id = u.outcome_definition_id "
            "AND b.workflow_id = u.workflow_id AND b.per_workflow "
            "AND (b.counted OR b.outcome = %s)) THEN TRUE "
            f"ELSE FALSE END AS counted FROM ({' UNION ALL '.join(selects)}) u"
        )
        # The CASE (and its two placeholders) comes before the SELECTs in the text.
        return cls(sql, (Outcome.DISPUTED, Outcome.DISPUTED, *params))

    @classmethod
    def empty(cls) -> "Marks":
        return cls.of_invoice(0)

    def of_period(self, period_id: int | None) -> "Marks":
        if period_id is None:  # the preview of a period not created yet
            return Marks(f"SELECT * FROM ({self.sql}) p WHERE p.period_id IS NULL", self.params)
        return Marks(
            f"SELECT * FROM ({self.sql}) p WHERE p.period_id = %s", (*self.params, period_id)
        )


TOTAL_KEYS = (
    "successes",
    "partials",
    "partial_qty",
    "value_sum",
    "missing_value",
    "failures",
    "disputed",
)
NO_MARKS = {"successes": 0, "partials": 0, "partial_qty": None, "value_sum": None}
NO_MARKS |= {"missing_value": 0, "failures": 0, "disputed": 0}


def totals(marks: Marks) -> dict[tuple[int, int], dict]:
    """Counts and sums of marks by (price, period the signals belong to), in one GROUP BY:
    a period's own outcomes and the late signals of earlier ones."""
    sql = (
        "SELECT m.price_id, m.period_id, "
        "SUM(CASE WHEN m.outcome = %s AND m.counted THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN m.outcome = %s AND m.counted THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN m.outcome = %s AND m.counted THEN m.fraction END), "
        "SUM(CASE WHEN m.counted THEN m.value * m.fraction END), "
        "SUM(CASE WHEN m.counted AND m.value IS NULL THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN m.outcome = %s THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN m.outcome = %s THEN 1 ELSE 0 END) "
        f"FROM ({marks.sql}) m GROUP BY m.price_id, m.period_id"
    )
    outcomes = (
        Outcome.SUCCESS,
        Outcome.PARTIAL,
        Outcome.PARTIAL,
        Outcome.FAILURE,
        Outcome.DISPUTED,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*outcomes, *marks.params))
        rows = cursor.fetchall()
    result = {}
    for price_id, period_id, *values in rows:
        row = dict(zip(TOTAL_KEYS, values, strict=True))
        for key in ("successes", "partials", "missing_value", "failures", "disputed"):
            row[key] = int(row[key])
        for key in ("partial_qty", "value_sum"):  # SQLite sums REAL values
            row[key] = None if row[key] is None else stored(row[key])
        result[(price_id, period_id)] = row
    return result


def attributed_cost(
    *, marks: Marks, definition: OutcomeDefinition, currency: str, on: date
) -> Decimal:
    """Cost of the counted outcomes in the agreement's currency: the costs of their
    signals, and for per-workflow outcomes every cost recorded under their workflows."""

    def counted(column: str, condition: str = "") -> str:
        return f"SELECT m.{column} FROM ({marks.sql}) m WHERE m.counted {condition}"

    if definition.per_workflow:
        where = (
            f"c.workflow_id IN ({counted('workflow_id', 'AND m.workflow_id IS NOT NULL')}) "
            f"OR c.signal_id IN ({counted('signal_id', 'AND m.workflow_id IS NULL')})"
        )
        params = (*marks.params, *marks.params)
    else:
        where = f"c.signal_id IN ({counted('signal_id')})"
        params = marks.params
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.currency, SUM(c.amount) FROM {_q(Cost._meta.db_table)} c "
            f"WHERE {where} GROUP BY c.currency",
            params,
        )
        rows = cursor.fetchall()
    total = ZERO
    for cost_currency, amount in rows:
        rate = fx_rate_on(cost_currency, currency, on)
        if rate is None:
            raise ClosingError(
                f"No exchange rate {cost_currency}→{currency} effective on or before {on}: add "
                "one under Billing › Exchange rates, then close again."
            )
        total += stored(amount) * rate
    return total
