"""Margin figures of a closing invoice: revenue, costs by category and model, cost of
failures, margin, per outcome definition. SQL aggregations over marks and costs; only
the grouped rows (a few per outcome) reach Python."""

from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum

from agents.models import Cost
from billing.models import (
    BilledSignal,
    BillingPeriod,
    CreditGrant,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    MarginAlert,
    MarginFigure,
)
from billing.money import ZERO, Rates, margin_percent, stored
from billing.rating import Marks


def _cost_rows(marks: Marks, *, per_workflow: bool):
    """(definition id, bucket, category, model, currency, total, unpriced) of the marks'
    costs; `unpriced` counts the costs without an amount (models the catalogue does not
    know), left out of the total.

    A signal's own costs go to its outcome (bucket "failure" for failures, "disputed"
    for outcomes whose dispute was accepted). For
    per-workflow outcomes counted on this invoice, every cost recorded under the
    workflow, whichever agent or step spent it, goes to that outcome instead.

    SQL written out because it joins costs to marks on signal_id directly; the ORM's
    path would join the signals table in between, a third of this query's time."""
    cost = connection.ops.quote_name(Cost._meta.db_table)
    # The workflows counted on this invoice, each with the outcome it was counted for.
    counted = (
        "SELECT workflow_id, MIN(outcome_definition_id) AS outcome_definition_id "
        f"FROM ({marks.sql}) cm "
        "WHERE counted AND per_workflow AND workflow_id IS NOT NULL GROUP BY workflow_id"
    )
    not_by_workflow = (
        f"AND NOT (m.per_workflow AND c.workflow_id IS NOT NULL "
        f"AND c.workflow_id IN (SELECT workflow_id FROM ({counted}) w))"
        if per_workflow
        else ""
    )
    failure, disputed = BilledSignal.Outcome.FAILURE, BilledSignal.Outcome.DISPUTED
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.outcome_definition_id, "
            "CASE WHEN m.outcome = %s THEN 'failure' "
            "WHEN m.outcome = %s THEN 'disputed' ELSE 'outcome' END, "
            "c.category, c.model, c.currency, SUM(c.amount), COUNT(*) - COUNT(c.amount) "
            f"FROM ({marks.sql}) m JOIN {cost} c ON c.signal_id = m.signal_id "
            f"WHERE 1 = 1 {not_by_workflow} "
            "GROUP BY 1, 2, 3, 4, 5",
            (failure, disputed, *marks.params, *(marks.params if per_workflow else ())),
        )
        rows = cursor.fetchall()
        if per_workflow:
            cursor.execute(
                "SELECT w.outcome_definition_id, 'outcome', c.category, c.model, c.currency, "
                "SUM(c.amount), COUNT(*) - COUNT(c.amount) "
                f"FROM {cost} c JOIN ({counted}) w ON w.workflow_id = c.workflow_id "
                "GROUP BY 1, 2, 3, 4, 5",
                marks.params,
            )
            rows += cursor.fetchall()
    # SQLite sums REAL values; PostgreSQL returns exact numerics. A group of unpriced
    # costs only (a model the catalogue does not know) sums to NULL: total None.
    return [(*row[:5], None if row[5] is None else stored(row[5]), row[6]) for row in rows]


def _promotional(grant_ids) -> set[int]:
    grant_ids = {pk for pk in grant_ids if pk}
    if not grant_ids:
        return set()
    return set(
        CreditGrant.objects.filter(pk__in=grant_ids, kind=CreditGrant.Kind.PROMOTIONAL).values_list(
            "pk", flat=True
        )
    )


def _is_extra_revenue(line, promotional: set[int]) -> bool:
    """Revenue besides outcome lines: fees, true-ups, caps, adjustments, and promotional
    credits (a discount). Paid credits only pay charges already counted, and a credit
    purchase is a prepayment: neither is revenue of the period."""
    kind = line.kind
    if kind == InvoiceLine.Kind.OUTCOME or kind == InvoiceLine.Kind.CREDIT_PURCHASE:
        return False
    if kind == InvoiceLine.Kind.CREDITS_APPLIED:
        return line.credit_grant_id in promotional
    return True


def _credited(invoice, prices: dict) -> tuple[dict[int, Decimal], Decimal]:
    """What the invoice's credit notes credited: by outcome definition (lines of a price)
    and on its other lines (fee, true-up, cap), shared like those lines' revenue."""
    by_definition: dict[int, Decimal] = defaultdict(lambda: ZERO)
    other = ZERO
    if invoice is None or invoice.pk is None:
        return by_definition, other
    rows = (
        CreditNoteLine.objects.filter(credit_note__invoice=invoice)
        .exclude(invoice_line__kind=InvoiceLine.Kind.CREDIT_PURCHASE)
        .exclude(
            invoice_line__kind=InvoiceLine.Kind.CREDITS_APPLIED,
            invoice_line__credit_grant__kind=CreditGrant.Kind.PAID,
        )
        .values("invoice_line__price_id")
        .annotate(amount=Sum("amount"))
        .order_by()
    )
    for row in rows:
        price = prices.get(row["invoice_line__price_id"])
        if price is None:
            other += stored(row["amount"])
        else:
            by_definition[price.outcome_definition_id] += stored(row["amount"])
    return by_definition, other


def margin_figures_compute(
    *, marks: Marks, invoice, period, lines, prices, totals
) -> list[MarginFigure]:
    """Unsaved MarginFigure rows, one per priced outcome of the invoice (None for a
    preview). `marks` are the invoice's; `prices` the agreement's, with their outcome
    definitions; `totals` the marks' counts by (price id, period id). What the invoice's
    credit notes credited leaves the revenue (`revenue_credited`); costs stay."""
    agreement = period.agreement
    currency = agreement.currency
    rates = Rates(period.last_day)
    prices = {p.pk: p for p in prices}
    definitions = {p.outcome_definition_id: p.outcome_definition for p in prices.values()}
    if not definitions:
        return []

    outcome_revenue: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        if line.kind == InvoiceLine.Kind.OUTCOME:
            outcome_revenue[prices[line.price_id].outcome_definition_id] += line.amount
    promotional = _promotional(line.credit_grant_id for line in lines)
    extra = sum((line.amount for line in lines if _is_extra_revenue(line, promotional)), ZERO)
    total_outcome = sum(outcome_revenue.values(), ZERO)

    counts = defaultdict(lambda: defaultdict(int))
    for (price_id, _), row in totals.items():
        for key in ("successes", "partials", "failures", "disputed"):
            counts[prices[price_id].outcome_definition_id][key] += row[key]
    costs = defaultdict(
        lambda: {
            "cost": ZERO,
            "failures": ZERO,
            "disputes": ZERO,
            "category": defaultdict(lambda: ZERO),
            "model": defaultdict(lambda: ZERO),
            "unpriced": 0,
        }
    )
    for definition_id, bucket, category, model, cost_currency, total, unpriced in _cost_rows(
        marks, per_workflow=any(d.per_workflow for d in definitions.values())
    ):
        if definition_id in definitions:
            costs[definition_id]["unpriced"] += unpriced
        if total is None:
            continue  # unpriced only: counted above, never shown as a zero cost
        amount = rates.convert(total, cost_currency, currency)
        if amount is None or definition_id not in definitions:
            continue
        entry = costs[definition_id]
        entry["cost"] += amount
        entry["category"][category] += amount
        entry["model"][model or "(none)"] += amount
        if bucket == "failure":
            entry["failures"] += amount
        elif bucket == "disputed":
            entry["disputes"] += amount

    credited, credited_other = _credited(invoice, prices)
    reporting = settings.REPORTING_CURRENCY
    figures = []
    for definition_id, definition in definitions.items():
        revenue_outcomes = outcome_revenue[definition_id]
        if total_outcome:
            allocated = extra * revenue_outcomes / total_outcome
            other = credited_other * revenue_outcomes / total_outcome
        else:
            allocated = extra / len(definitions)
            other = credited_other / len(definitions)
        revenue_credited = stored(credited[definition_id] + other)
        revenue = stored(revenue_outcomes + allocated) - revenue_credited
        entry = costs[definition_id]
        entry["cost"] = stored(entry["cost"])
        margin = revenue - entry["cost"]  # exactly revenue - cost as stored
        percent = margin_percent(margin, revenue)
        row = counts.get(definition_id, {})
        target = agreement.margin_target
        figures.append(
            MarginFigure(
                period=period,
                invoice=invoice,
                agreement=agreement,
                customer_id=agreement.customer_id,
                agent_id=definition.agent_id,
                outcome_definition=definition,
                currency=currency,
                successes=row.get("successes", 0),
                partials=row.get("partials", 0),
                failures=row.get("failures", 0),
                disputed=row.get("disputed", 0),
                revenue_outcomes=revenue_outcomes,
                revenue_allocated=stored(allocated),
                revenue_credited=revenue_credited,
                revenue=revenue,
                cost=entry["cost"],
                cost_by_category={k: f"{stored(v):f}" for k, v in entry["category"].items()},
                cost_by_model={k: f"{stored(v):f}" for k, v in entry["model"].items()},
                cost_of_failures=stored(entry["failures"]),
                cost_of_disputes=stored(entry["disputes"]),
                unpriced_costs=entry["unpriced"],
                margin=margin,
                margin_percent=percent,
                reporting_currency=reporting,
                below_target=target is not None
                and (percent < target if percent is not None else entry["cost"] > 0),
            )
        )
    for figure in figures:
        revenue = rates.convert(figure.revenue, currency, reporting)
        cost = rates.convert(figure.cost, currency, reporting)
        figure.revenue_reporting = None if revenue is None else stored(revenue)
        figure.cost_reporting = None if cost is None else stored(cost)
    missing = ", ".join(sorted(rates.missing))
    for figure in figures:
        figure.incomplete = bool(missing)
        figure.missing_rates = missing
    return figures


FIGURE_COSTS = (
    "successes",
    "partials",
    "failures",
    "disputed",
    "revenue_credited",
    "revenue",
    "revenue_reporting",
    "cost",
    "cost_by_category",
    "cost_by_model",
    "cost_of_failures",
    "cost_of_disputes",
    "unpriced_costs",
    "margin",
    "margin_percent",
    "cost_reporting",
    "incomplete",
    "missing_rates",
    "below_target",
)


def margin_figures_refresh(*, invoice_id: int) -> int:
    """Recompute an issued invoice's margin figures after costs reached its outcomes late
    (traced costs linked after the close), a credit note credited it, or a dispute was
    accepted on it. The revenue is the invoice's less its credit notes; the costs, the
    counts (disputed outcomes apart), margin and flags follow. Returns how many figures
    changed."""
    from billing.rating import totals
    from billing.versions import period_terms

    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("period__agreement")
            .get(pk=invoice_id)
        )
        if invoice.status == Invoice.Status.VOID or invoice.period_id is None:
            return 0  # a void invoice's figures are not live; a top-up invoice has none
        marks = Marks.of_invoice(invoice.pk)
        fresh = margin_figures_compute(
            marks=marks,
            invoice=invoice,
            period=invoice.period,
            lines=list(invoice.lines.all()),
            prices=period_terms(invoice.period)[1],
            totals=totals(marks),
        )
        stored_figures = {f.outcome_definition_id: f for f in invoice.margins.all()}
        changed = []
        for figure in fresh:
            old = stored_figures.get(figure.outcome_definition_id)
            if old is None:
                continue  # an outcome priced after the close: not on this invoice
            if any(getattr(old, name) != getattr(figure, name) for name in FIGURE_COSTS):
                for name in FIGURE_COSTS:
                    setattr(old, name, getattr(figure, name))
                changed.append(old)
        MarginFigure.objects.bulk_update(changed, FIGURE_COSTS)
    return len(changed)


def margin_alert_raise(*, period_id: int):
    """Record an alert when the closed period's deal is below its margin target.

    At most one alert per period and threshold (a database constraint): a second call,
    a retried task or a reissued invoice alerts nobody twice. Returns the new alert."""
    period = BillingPeriod.objects.select_related("agreement").get(pk=period_id)
    target = period.agreement.margin_target
    if target is None:
        return None
    totals = (
        MarginFigure.objects.live()
        .filter(period=period)
        .aggregate(revenue=Sum("revenue"), margin=Sum("margin"))
    )
    revenue, margin = totals["revenue"] or ZERO, totals["margin"] or ZERO
    percent = margin_percent(margin, revenue)
    if (percent is not None and percent >= target) or (percent is None and margin >= 0):
        return None
    try:
        with transaction.atomic():
            return MarginAlert.objects.create(
                agreement=period.agreement,
                period=period,
                threshold=target,
                margin_percent=percent,
            )
    except IntegrityError:
        return None
