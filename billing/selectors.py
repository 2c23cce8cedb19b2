"""Reads of billing data that are reused."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from django.db import connection
from django.db.models import Case, Count, DecimalField, F, Q, Sum, Value, When
from django.db.models.functions import TruncMonth

from agents.models import Signal
from billing.models import (
    Budget,
    CustomerBalance,
    MarginFigure,
    OutcomeDefinition,
    Price,
    PriceAgreement,
)
from billing.money import ZERO, margin_percent, round_line
from customers.models import Customer


def outcome_preview(*, definition: OutcomeDefinition, limit: int = 200) -> dict[str, int]:
    """Classify the agent's latest `limit` signals against the definition, in one query."""
    criteria = list(definition.criteria.all())
    latest_ids = list(
        Signal.objects.filter(agent_id=definition.agent_id)
        .order_by("-occurred_at", "-id")
        .values_list("id", flat=True)[:limit]
    )
    success = definition.success_q(criteria)
    partial = definition.partial_q(criteria)
    event = Q(event_name=definition.event_name)
    counts = Signal.objects.filter(id__in=latest_ids).aggregate(
        examined=Count("id"),
        of_event=Count("id", filter=event),
        success=Count("id", filter=success),
        partial=Count("id", filter=partial),
    )
    counts["failure"] = counts["of_event"] - counts["success"] - counts["partial"]
    counts["other_events"] = counts["examined"] - counts["of_event"]
    return counts


# --- Agreements --------------------------------------------------------------------------
def agreements_overlapping(
    *,
    customer: Customer | int,
    outcome_definition_ids: Iterable[int],
    starts_on: date,
    ends_on: date | None,
    exclude_pk: int | None = None,
) -> dict[int, PriceAgreement]:
    """For each of these outcome definitions that one of the customer's agreements already
    prices on a day of [starts_on, ends_on] (inclusive; None: no end), that agreement.

    The rule an account manager is told at the field; a database trigger keeps it too."""
    overlapping = PriceAgreement.objects.filter(customer=customer).filter(
        Q(ends_on__isnull=True) | Q(ends_on__gte=starts_on)
    )
    if ends_on:
        overlapping = overlapping.filter(starts_on__lte=ends_on)
    if exclude_pk is not None:
        overlapping = overlapping.exclude(pk=exclude_pk)
    prices = Price.objects.filter(
        agreement__in=overlapping, outcome_definition_id__in=list(outcome_definition_ids)
    ).select_related("agreement")
    return {price.outcome_definition_id: price.agreement for price in prices}


# --- Margin dashboard --------------------------------------------------------------------
def margin_figures(*, date_from=None, date_to=None, customer=None, agent=None):
    """Stored margin figures of issued invoices, filtered as the dashboard is."""
    figures = MarginFigure.objects.live()
    if date_from:
        figures = figures.filter(period__starts_at__date__gte=date_from)
    if date_to:
        figures = figures.filter(period__starts_at__date__lte=date_to)
    if customer:
        figures = figures.filter(customer=customer)
    if agent:
        figures = figures.filter(agent=agent)
    return figures


def margin_dashboard(**filters) -> dict:
    """The dashboard's figures from stored margins (never raw signals), in the reporting
    currency: a fixed number of aggregate queries whatever the number of signals."""
    figures = margin_figures(**filters)
    # Aliases differ from field names: an alias named "cost" would shadow F("cost").
    sums = {
        "revenue_total": Sum("revenue_reporting"),
        "cost_total": Sum("cost_reporting"),
        # cost of failures in the reporting currency, by each row's own conversion ratio
        "failures_cost": Sum(
            Case(
                When(cost__gt=0, then=F("cost_of_failures") * F("cost_reporting") / F("cost")),
                default=Value(ZERO),
                output_field=DecimalField(max_digits=30, decimal_places=10),
            )
        ),
        # the cost of disputed outcomes (accepted: not charged), converted the same way
        "disputes_cost": Sum(
            Case(
                When(cost__gt=0, then=F("cost_of_disputes") * F("cost_reporting") / F("cost")),
                default=Value(ZERO),
                output_field=DecimalField(max_digits=30, decimal_places=10),
            )
        ),
        "disputed_total": Sum("disputed"),
        "outcomes": Sum(F("successes") + F("partials")),
    }
    by_period = [
        {
            "period": row["month"].strftime("%Y-%m"),
            "revenue": row["revenue_total"] or ZERO,
            "cost": row["cost_total"] or ZERO,
        }
        for row in figures.annotate(month=TruncMonth("period__starts_at"))
        .values("month")
        .annotate(**sums)
        .order_by("month")
    ]

    def grouped(field, label):
        rows = []
        for row in figures.values(field, label).annotate(**sums).order_by(label):
            revenue, cost = row["revenue_total"] or ZERO, row["cost_total"] or ZERO
            rows.append(
                {
                    "id": row[field],
                    "name": row[label],
                    "revenue": revenue,
                    "cost": cost,
                    "margin": revenue - cost,
                    "margin_percent": margin_percent(revenue - cost, revenue),
                    "cost_of_failures": row["failures_cost"] or ZERO,
                    "disputed": row["disputed_total"] or 0,
                    "cost_of_disputes": row["disputes_cost"] or ZERO,
                }
            )
        return rows

    below = (
        figures.filter(below_target=True)
        .values(
            "agreement",
            "agreement__name",
            "agreement__margin_target",
            "period__starts_at",
            "customer__name",
        )
        .annotate(revenue=Sum("revenue"), margin=Sum("margin"))
        .order_by("-period__starts_at", "customer__name")
    )
    # Cost per outcome by model: per outcome definition, from the stored JSON of the
    # (few, rolled-up) figures; converted to the reporting currency by each row's ratio.
    per_outcome: dict[str, dict[str, Decimal]] = {}
    outcomes: dict[str, int] = {}
    for row in figures.values(
        "outcome_definition__name",
        "cost_by_model",
        "cost",
        "cost_reporting",
        "successes",
        "partials",
    ):
        name = row["outcome_definition__name"]
        ratio = (
            (row["cost_reporting"] / row["cost"]) if row["cost"] and row["cost_reporting"] else 1
        )
        models = per_outcome.setdefault(name, {})
        for model, amount in row["cost_by_model"].items():
            models[model] = models.get(model, ZERO) + Decimal(amount) * ratio
        outcomes[name] = outcomes.get(name, 0) + row["successes"] + row["partials"]
    cost_per_outcome = [
        {
            "outcome": name,
            "models": {
                m: (v / outcomes[name]).quantize(Decimal("0.0001"))
                for m, v in sorted(models.items())
            }
            if outcomes[name]
            else {},
        }
        for name, models in sorted(per_outcome.items())
    ]
    incomplete = figures.filter(incomplete=True).values_list("missing_rates", flat=True).distinct()
    return {
        "by_period": by_period,
        "by_agent": grouped("agent", "agent__name"),
        "by_customer": grouped("customer", "customer__name"),
        "cost_per_outcome": cost_per_outcome,
        "below_target": [
            {**row, "margin_percent": margin_percent(row["margin"], row["revenue"])}
            for row in below
        ],
        "incomplete": sorted(set(incomplete)),
        "unpriced_costs": figures.aggregate(n=Sum("unpriced_costs"))["n"] or 0,
    }


def margin_chart_data(data: dict, *, currency: str) -> dict:
    """The dashboard's chart series from `margin_dashboard(...)`, amounts at the minor unit
    of the reporting `currency` (costs per outcome keep their 4 places: they are fractions
    of a cent). Decimals stay Decimals: they reach the page as JSON strings
    (DjangoJSONEncoder) and the script reads them with Number(), so no amount passes
    through a Python float."""

    def amounts(rows, key):
        return [round_line(r[key], currency) for r in rows]

    return {
        "periods": [r["period"] for r in data["by_period"]],
        "revenue": amounts(data["by_period"], "revenue"),
        "cost": amounts(data["by_period"], "cost"),
        "agents": [r["name"] for r in data["by_agent"]],
        "agent_margin": [r["margin_percent"] for r in data["by_agent"]],
        "customers": [r["name"] for r in data["by_customer"]],
        "customer_margin": [r["margin_percent"] for r in data["by_customer"]],
        "agent_failures": amounts(data["by_agent"], "cost_of_failures"),
        "cost_per_outcome": [
            {"outcome": r["outcome"], "models": dict(r["models"])} for r in data["cost_per_outcome"]
        ],
    }


# --- The balance endpoint's one query --------------------------------------------------
@dataclass
class BalanceLookup:
    """A customer (id, external id, currency only), its stored balance and budget."""

    customer: Customer
    stored: CustomerBalance | None
    budget: Budget | None


@cache
def _balance_statement(by: str, scoped: bool) -> tuple[str, list[tuple]]:
    """The lookup's SQL and each column's (model, field, converters). Written once per
    process: the ORM spent more time compiling this query than PostgreSQL running it
    (measured: 5.6 ms a request through the ORM, 1.1 ms as SQL; the balance endpoint is
    asked before every action of an agent)."""
    q = connection.ops.quote_name
    tables = [
        ("c", Customer, [Customer._meta.get_field(n) for n in ("id", "external_id", "currency")]),
        ("b", CustomerBalance, CustomerBalance._meta.concrete_fields),
        ("g", Budget, Budget._meta.concrete_fields),
    ]
    columns, selected = [], []
    for alias, model, fields in tables:
        for field in fields:
            col = field.get_col(alias)
            converters = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
            columns.append((model, field, col, converters))
            selected.append(f"{alias}.{q(field.column)}")
    price, agreement = Price._meta, PriceAgreement._meta
    definition = OutcomeDefinition._meta
    sql = (
        f"SELECT {', '.join(selected)} FROM {q(Customer._meta.db_table)} c "
        f"LEFT JOIN {q(CustomerBalance._meta.db_table)} b ON b.{q('customer_id')} = c.{q('id')} "
        f"LEFT JOIN {q(Budget._meta.db_table)} g ON g.{q('customer_id')} = c.{q('id')} "
        f"WHERE c.{q('external_id' if by == 'external_id' else 'id')} = %s"
    )
    if scoped:  # a customer the agent bills: an agreement of theirs prices its outcome
        sql += (
            f" AND EXISTS (SELECT 1 FROM {q(price.db_table)} p "
            f"JOIN {q(agreement.db_table)} a ON a.{q('id')} = p.{q('agreement_id')} "
            f"JOIN {q(definition.db_table)} d ON d.{q('id')} = p.{q('outcome_definition_id')} "
            f"WHERE a.{q('customer_id')} = c.{q('id')} AND d.{q('agent_id')} = %s)"
        )
    return sql, columns


def _prepared_cursor():
    """On PostgreSQL, a cursor that binds parameters on the server, so that psycopg
    prepares a statement it runs often (after prepare_threshold runs, once per
    connection): the lookup's planning took longer than its execution (measured: 1.4 ms
    against 0.25 ms). Django's cursors bind on the client, which never prepares. Wrapped
    as Django wraps its own (errors, query logging and counting)."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    import psycopg

    connection.cursor().close()  # connects, and checks the connection's health, as usual
    raw = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


def balance_lookup(*, agent_id: int | None, **lookup) -> BalanceLookup | None:
    """The customer named by `lookup` (external_id=... or pk=...) with its stored balance
    and budget, in one indexed query; None if there is none, or if `agent_id` is given
    and none of the customer's agreements prices an outcome of that agent."""
    ((by, value),) = lookup.items()
    sql, columns = _balance_statement(by, agent_id is not None)
    params = [value] if agent_id is None else [value, agent_id]
    with _prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values: dict = {Customer: {}, CustomerBalance: {}, Budget: {}}
    for (model, field, col, converters), value in zip(columns, row, strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        values[model][field.attname] = value
    stored = CustomerBalance(**values[CustomerBalance]) if values[CustomerBalance]["id"] else None
    budget = Budget(**values[Budget]) if values[Budget]["id"] else None
    return BalanceLookup(customer=Customer(**values[Customer]), stored=stored, budget=budget)
