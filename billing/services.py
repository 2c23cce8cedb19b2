"""Closing billing periods: rating signals in the database, pricing, and issuing
invoices exactly once."""

import calendar
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    CharField,
    Count,
    DecimalField,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from agents.models import Cost, Signal
from billing.margins import margin_figures_compute
from billing.models import (
    BilledSignal,
    BillingPeriod,
    ExchangeRate,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    MarginFigure,
    OutcomeDefinition,
    Price,
    PriceAgreement,
)
from billing.models.agreements import DataNumber
from billing.money import ZERO, round_line
from billing.pricing import billable_quantity, outcome_charge

logger = logging.getLogger(__name__)
FRACTION = DecimalField(max_digits=12, decimal_places=8)
AMOUNT = DecimalField(max_digits=30, decimal_places=10)
CADENCE_MONTHS = {"monthly": 1, "quarterly": 3, "annual": 12}
# Periods without a live invoice: a later period closes only after them, or their
# signals would be billed as its late signals.
UNSETTLED = [BillingPeriod.State.OPEN, BillingPeriod.State.VOIDED]


class ClosingError(Exception):
    """A period cannot be closed as configured; the message says what to fix."""


# --- Periods ---------------------------------------------------------------------------
def _add_months(day: date, months: int, anchor_day: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def period_bounds(agreement: PriceAgreement, until: datetime):
    """(start, end, full_end) of the agreement's periods that start before `until`:
    by cadence from the agreement's start day; the last one cut at the agreement's end."""
    months = CADENCE_MONTHS[agreement.cadence]
    stop = agreement.ends_on + timedelta(days=1) if agreement.ends_on else None
    start, i = agreement.starts_on, 0
    while _midnight(start) < until and (stop is None or start < stop):
        i += 1
        full_end = _add_months(agreement.starts_on, months * i, agreement.starts_on.day)
        end = min(full_end, stop) if stop else full_end
        yield _midnight(start), _midnight(end), _midnight(full_end)
        start = end


def billing_periods_ensure(*, agreement: PriceAgreement, until: datetime) -> int:
    """Create the agreement's missing periods up to `until`. Safe to run twice."""
    periods = [
        BillingPeriod(agreement=agreement, starts_at=start, ends_at=end)
        for start, end, _ in period_bounds(agreement, until)
    ]
    created = BillingPeriod.objects.bulk_create(periods, ignore_conflicts=True)
    return len(created)


def periods_due(*, now: datetime | None = None):
    """Open periods whose end plus the agreement's grace period has passed, earliest first,
    at most one per agreement (a period closes only after the one before it)."""
    now = now or timezone.now()
    # Only agreements whose periods stop short of now (or of their end) get new ones.
    for agreement in PriceAgreement.objects.annotate(last_end=Max("periods__ends_at")):
        stop = _midnight(agreement.ends_on + timedelta(days=1)) if agreement.ends_on else None
        if agreement.last_end is None or (
            agreement.last_end < now and (stop is None or agreement.last_end < stop)
        ):
            billing_periods_ensure(agreement=agreement, until=now)
    earlier_open = BillingPeriod.objects.filter(
        agreement=OuterRef("agreement"), state__in=UNSETTLED, starts_at__lt=OuterRef("starts_at")
    )
    candidates = (
        BillingPeriod.objects.filter(state="open", ends_at__lte=now)
        .exclude(Exists(earlier_open))
        .select_related("agreement")
    )
    return [p for p in candidates if p.ends_at + p.agreement.grace_period <= now]


# --- Closing ---------------------------------------------------------------------------
@dataclass
class DraftLine:
    kind: str
    description: str
    amount: Decimal
    quantity: Decimal = ZERO
    unit_price: Decimal | None = None
    successes: int = 0
    partials: int = 0
    price_id: int | None = None
    adjusted_period_id: int | None = None


@dataclass
class DraftInvoice:
    period: BillingPeriod
    currency: str
    lines: list[DraftLine] = field(default_factory=list)
    margins: list = field(default_factory=list)
    prices: list[Price] = field(default_factory=list)
    # Counts and sums of the invoice's marks by (price id, period id).
    totals: dict[tuple[int, int], dict] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


def _insert_marks(*, invoice: Invoice, period: BillingPeriod, price: Price) -> None:
    """Mark every not-yet-processed signal of the price's outcome up to the period's end
    as processed by this invoice, classified in SQL (INSERT ... SELECT)."""
    definition: OutcomeDefinition = price.outcome_definition
    agreement = period.agreement
    criteria = list(definition.criteria.all())
    success, partial = definition.success_q(criteria), definition.partial_q(criteria)
    rule = definition.partial_rule
    if rule == "fixed":
        partial_fraction = Value(definition.partial_fraction, output_field=FRACTION)
    elif rule == "ratio":
        ratio = DataNumber(definition.ratio_numerator_field) / DataNumber(
            definition.ratio_denominator_field
        )
        partial_fraction = Least(
            Greatest(ratio, Value(ZERO)), Value(Decimal(1)), output_field=FRACTION
        )
    else:
        partial_fraction = Value(ZERO, output_field=FRACTION)
    charged_partial = partial if rule != "none" else Q(pk__in=[])
    origin = (
        BillingPeriod.objects.filter(
            agreement=agreement,
            starts_at__lte=OuterRef("occurred_at"),
            ends_at__gt=OuterRef("occurred_at"),
        )
        .order_by()
        .values("pk")[:1]
    )
    value = DataNumber(price.value_field) if price.value_field else Value(None, output_field=AMOUNT)
    candidates = (
        Signal.objects.filter(
            agent_id=definition.agent_id,
            customer_id=agreement.customer_id,
            event_name=definition.event_name,
            occurred_at__gte=_midnight(agreement.starts_on),
            occurred_at__lt=period.ends_at,
        )
        .exclude(Exists(BilledSignal.objects.filter(signal_id=OuterRef("pk"))))
        .order_by()
    )
    # Columns in the order of the INSERT; each an annotation so the SELECT keeps that order.
    columns = {
        "signal_id": F("pk"),
        "invoice_id": Value(invoice.pk),
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
            When(success, then=Value("success")),
            When(partial, then=Value("partial")),
            default=Value("failure"),
            output_field=CharField(),
        ),
        "fraction": Case(
            When(success, then=Value(Decimal(1), output_field=FRACTION)),
            When(partial, then=partial_fraction),
            default=Value(ZERO, output_field=FRACTION),
            output_field=FRACTION,
        ),
        "value": value,
        "counted": Case(
            When(success | charged_partial, then=Value(not definition.per_workflow)),
            default=Value(False),
            output_field=BooleanField(),
        ),
    }
    aliases = {f"c_{name}": expr for name, expr in columns.items()}
    select = candidates.annotate(**aliases).values_list(*aliases)
    sql, params = select.query.sql_with_params()
    table = connection.ops.quote_name(BilledSignal._meta.db_table)
    names = ", ".join(connection.ops.quote_name(name) for name in columns)
    with connection.cursor() as cursor:
        # NOT EXISTS leaves out the signals marked already; ON CONFLICT skips any that
        # a concurrent transaction marks meanwhile instead of failing the close.
        cursor.execute(
            f"INSERT INTO {table} ({names}) {sql} ON CONFLICT (signal_id) DO NOTHING", params
        )
    if definition.per_workflow:
        _count_first_outcome_of_each_workflow(invoice=invoice, definition=definition)


def _count_first_outcome_of_each_workflow(*, invoice, definition) -> None:
    """Per-workflow outcomes: of the chargeable marks just made, count the first of each
    workflow that was never counted before (a database constraint keeps it once, ever)."""
    chargeable = BilledSignal.objects.filter(
        invoice=invoice, outcome_definition=definition, outcome__in=["success", "partial"]
    )
    if definition.partial_rule == "none":
        chargeable = chargeable.filter(outcome="success")
    # The same conditions as the partial unique index, which serves this lookup.
    already = BilledSignal.objects.filter(
        outcome_definition=definition,
        workflow_id=OuterRef("workflow_id"),
        counted=True,
        per_workflow=True,
    )
    firsts = (
        chargeable.filter(workflow_id__isnull=False)
        .exclude(Exists(already))
        .values("workflow_id")
        .annotate(first=Min("signal_id"))
        .values("first")
    )
    BilledSignal.objects.filter(signal_id__in=Subquery(firsts)).update(counted=True)
    # Signals of a per-workflow outcome without a workflow id are outcomes on their own.
    chargeable.filter(workflow_id__isnull=True).update(counted=True)


def _fx_rate(base: str, quote: str, on: date) -> Decimal:
    if base == quote:
        return Decimal(1)
    rate = (
        ExchangeRate.objects.filter(base_currency=base, quote_currency=quote, effective_on__lte=on)
        .order_by("-effective_on")
        .values_list("rate", flat=True)
        .first()
    )
    if rate is None:
        raise ClosingError(
            f"No exchange rate {base}→{quote} effective on or before {on}: add one under "
            "Billing › Exchange rates, then close again."
        )
    return rate


def _attributed_cost(*, marks, definition: OutcomeDefinition, currency: str, on: date) -> Decimal:
    """Cost of the counted outcomes in the agreement's currency: the costs of the signals,
    and for per-workflow outcomes every cost recorded under their workflows."""
    counted = marks.filter(counted=True)
    if definition.per_workflow:
        costs = Cost.objects.filter(
            Q(workflow_id__in=counted.filter(workflow_id__isnull=False).values("workflow_id"))
            | Q(signal_id__in=counted.filter(workflow_id__isnull=True).values("signal_id"))
        )
    else:
        costs = Cost.objects.filter(signal_id__in=counted.values("signal_id"))
    by_currency = costs.values("currency").annotate(total=Sum("amount")).order_by()
    return sum(
        (row["total"] * _fx_rate(row["currency"], currency, on) for row in by_currency), ZERO
    )


def _price_tiers(price: Price):
    if price.model not in Price.TIERED:
        return []
    return [(t.from_quantity, t.up_to_quantity, t.unit_price) for t in price.tiers.all()]


def _charge(price: Price, agg: dict, cost: Decimal) -> tuple[Decimal, Decimal]:
    """(quantity shown, unrounded amount) of a price for aggregated marks."""
    quantity = billable_quantity(
        agg["successes"],
        agg["partial_qty"] or ZERO,
        price.included_quantity if price.model in ("per_outcome", "graduated", "volume") else ZERO,
    )
    amount = outcome_charge(
        model=price.model,
        quantity=quantity,
        unit_price=price.unit_price,
        tiers=_price_tiers(price),
        value=agg["value_sum"] or ZERO,
        percent=price.percent_of_value,
        cost=cost,
        markup_percent=price.markup_percent,
    )
    return quantity, amount


TOTALS = {
    "successes": Count("pk", filter=Q(outcome="success", counted=True)),
    "partials": Count("pk", filter=Q(outcome="partial", counted=True)),
    "partial_qty": Sum("fraction", filter=Q(outcome="partial", counted=True)),
    "value_sum": Sum(F("value") * F("fraction"), filter=Q(counted=True), output_field=AMOUNT),
    "missing_value": Count("pk", filter=Q(counted=True, value__isnull=True)),
    "failures": Count("pk", filter=Q(outcome="failure")),
}
NO_MARKS = dict.fromkeys(TOTALS, 0) | {"partial_qty": None, "value_sum": None}


def _exact(agg: dict) -> dict:
    """Sums at the 8 places they are stored with (SQLite sums REAL values, so its float
    noise is cut here)."""
    for key in ("partial_qty", "value_sum"):
        if agg[key] is not None:
            agg[key] = Decimal(agg[key]).quantize(Decimal("0.00000001"))
    return agg


def _aggregate(marks) -> dict:
    """Counts and sums of marks."""
    return _exact(marks.aggregate(**TOTALS))


def _invoice_totals(invoice: Invoice) -> dict[tuple[int, int], dict]:
    """Counts and sums of the invoice's marks by (price, period the signals belong to),
    in one GROUP BY: the period's own outcomes and the late signals of earlier ones."""
    rows = (
        BilledSignal.objects.filter(invoice=invoice)
        .values("price_id", "period_id")
        .annotate(**TOTALS)
        .order_by()
    )
    return {(row.pop("price_id"), row.pop("period_id")): _exact(row) for row in rows}


def _outcome_description(price: Price, agg: dict, quantity: Decimal) -> str:
    name = price.outcome_definition.name
    parts = [f"{name}: {agg['successes']} successes"]
    if agg["partials"]:
        parts.append(f"{agg['partials']} partials counting {agg['partial_qty'].normalize():f}")
    text = " + ".join(parts)
    if price.model in ("per_outcome", "graduated", "volume"):
        if price.included_quantity:
            text += f", {price.included_quantity.normalize():f} included free"
        model = price.get_model_display().split(" (")[0].lower()
        text += f"; {quantity.normalize():f} billable ({model})"
    elif price.model == "percent_of_value":
        percent = price.percent_of_value.normalize()
        text += f"; {percent:f}% of {price.value_field} {agg['value_sum'] or 0:.2f}"
        if agg["missing_value"]:
            text += f" ({agg['missing_value']} without a numeric {price.value_field}, charged 0)"
    else:
        text += f"; attributed cost plus {price.markup_percent.normalize():f}%"
    return text


def _prorated(amount: Decimal, period: BillingPeriod, full_end: datetime) -> Decimal:
    full = (full_end - period.starts_at).total_seconds()
    actual = (period.ends_at - period.starts_at).total_seconds()
    return amount if actual >= full else amount * Decimal(actual) / Decimal(full)


def _draft(*, invoice: Invoice, period: BillingPeriod) -> DraftInvoice:
    agreement = period.agreement
    currency = agreement.currency
    if agreement.customer.currency != currency:
        raise ClosingError(
            f"Agreement “{agreement.name}” is in {currency} but customer "
            f"{agreement.customer.external_id} is invoiced in {agreement.customer.currency}: "
            "make them the same, then close again."
        )
    draft = DraftInvoice(period=period, currency=currency)
    on = (period.ends_at - timedelta(days=1)).date()
    prices = list(agreement.prices.select_related("outcome_definition"))
    prefetch_related_objects([price for price in prices if price.model in Price.TIERED], "tiers")
    for price in prices:
        _insert_marks(invoice=invoice, period=period, price=price)

    totals = _invoice_totals(invoice)
    draft.prices, draft.totals = prices, totals
    outcome_total = ZERO
    adjustments: list[DraftLine] = []
    for price in prices:
        marks = BilledSignal.objects.filter(invoice=invoice, price=price)
        agg = totals.get((price.pk, period.pk), NO_MARKS)
        cost = ZERO
        if price.model == "cost_plus":
            cost = _attributed_cost(
                marks=marks.filter(period=period),
                definition=price.outcome_definition,
                currency=currency,
                on=on,
            )
        quantity, amount = _charge(price, agg, cost)
        line = DraftLine(
            kind=InvoiceLine.Kind.OUTCOME,
            description=_outcome_description(price, agg, quantity),
            amount=round_line(amount, currency),
            quantity=quantity,
            unit_price=price.unit_price if price.model == "per_outcome" else None,
            successes=agg["successes"],
            partials=agg["partials"],
            price_id=price.pk,
        )
        draft.lines.append(line)
        outcome_total += line.amount
        late_totals = {
            origin: late
            for (price_id, origin), late in sorted(totals.items())
            if price_id == price.pk and origin != period.pk
        }
        adjustments += _adjustment_lines(
            invoice=invoice, price=price, marks=marks, late_totals=late_totals, currency=currency
        )

    full_end = next(
        (
            full
            for start, _, full in period_bounds(agreement, period.ends_at)
            if start == period.starts_at
        ),
        period.ends_at,
    )
    if agreement.platform_fee:
        fee = round_line(_prorated(agreement.platform_fee, period, full_end), currency)
        draft.lines.append(
            DraftLine(
                kind=InvoiceLine.Kind.PLATFORM_FEE,
                amount=fee,
                quantity=Decimal(1),
                description="Platform fee"
                + (" (prorated)" if fee != agreement.platform_fee else ""),
            )
        )
    minimum = _prorated(agreement.minimum_commitment, period, full_end)
    if minimum and outcome_total < minimum:
        true_up = round_line(minimum - outcome_total, currency)
        draft.lines.append(
            DraftLine(
                kind=InvoiceLine.Kind.MINIMUM_TRUE_UP,
                amount=true_up,
                description=f"Minimum commitment {round_line(minimum, currency)}: "
                f"true-up of outcomes charged {outcome_total}",
            )
        )
        outcome_total += true_up
    if agreement.spend_cap is not None and outcome_total > agreement.spend_cap:
        discount = round_line(agreement.spend_cap - outcome_total, currency)
        draft.lines.append(
            DraftLine(
                kind=InvoiceLine.Kind.CAP_DISCOUNT,
                amount=discount,
                description=f"Spend cap {agreement.spend_cap}: outcomes charged {outcome_total}",
            )
        )
    draft.lines += adjustments
    return draft


def _adjustment_lines(*, invoice, price, marks, late_totals, currency) -> list[DraftLine]:
    """Late signals of earlier periods (`late_totals`: theirs by period): charged at what
    their period's total would have cost with them, less what that period was charged."""
    lines = []
    for origin_id, late in late_totals.items():
        origin = BillingPeriod.objects.get(pk=origin_id)
        if not (late["successes"] or late["partials"]):
            continue
        billed_before = BilledSignal.objects.filter(
            price=price, period=origin, invoice__status=Invoice.Status.ISSUED
        ).exclude(invoice=invoice)
        before = _aggregate(billed_before)
        after = {k: (before[k] or 0) + (late[k] or 0) for k in before}
        on = (origin.ends_at - timedelta(days=1)).date()
        cost_before = cost_after = ZERO
        if price.model == "cost_plus":
            cost_before = _attributed_cost(
                marks=billed_before, definition=price.outcome_definition, currency=currency, on=on
            )
            cost_after = cost_before + _attributed_cost(
                marks=marks.filter(period=origin),
                definition=price.outcome_definition,
                currency=currency,
                on=on,
            )
        q_before, amount_before = _charge(price, before, cost_before)
        q_after, amount_after = _charge(price, after, cost_after)
        lines.append(
            DraftLine(
                kind=InvoiceLine.Kind.ADJUSTMENT,
                description=(
                    f"Late signals of {origin.starts_at:%Y-%m-%d} – {origin.ends_at:%Y-%m-%d}: "
                    f"{price.outcome_definition.name}, {late['successes']} successes"
                    + (f" + {late['partials']} partials" if late["partials"] else "")
                ),
                amount=round_line(amount_after - amount_before, currency),
                quantity=q_after - q_before,
                successes=late["successes"],
                partials=late["partials"],
                price_id=price.pk,
                adjusted_period_id=origin.pk,
            )
        )
    return lines


def _next_invoice_number() -> int:
    """The next number, in one statement that also locks the counter row until commit."""
    table = connection.ops.quote_name(InvoiceCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_number = last_number + 1 WHERE id = 1 RETURNING last_number"
        )
        row = cursor.fetchone()
    if row is None:  # the row the migration creates is gone (a flushed database)
        InvoiceCounter.objects.get_or_create(pk=1)
        return _next_invoice_number()
    return row[0]


def close_period(
    *,
    period_id: int,
    dry_run: bool = False,
    now: datetime | None = None,
    reissue: bool = False,
):
    """Issue the period's invoice, exactly once.

    The period row is locked first; a period that is not open is left alone, so a
    duplicated, retried or concurrent close does nothing more. With reissue, only a
    voided period is closed, by an invoice that replaces its void one. Everything
    (marks, invoice, lines, number, state) is one transaction: a failure leaves nothing.
    With dry_run the invoice is computed and rolled back (the upcoming invoice).
    Returns the Invoice, the DraftInvoice (dry run), or None when there is nothing to do.
    """
    now = now or timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Each query here touches one agreement's rows, found by index. Starting
            # parallel workers for them costs more (milliseconds a query) than it saves,
            # and a hash join would read a whole table: the planner picks one for the
            # marks' NOT EXISTS when the table grows faster than its statistics.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL enable_hashjoin = off"
                )
        earlier_open = BillingPeriod.objects.filter(
            agreement=OuterRef("agreement"),
            state__in=UNSETTLED,
            starts_at__lt=OuterRef("starts_at"),
        ).order_by("starts_at")
        period = (
            BillingPeriod.objects.select_for_update(of=("self",))
            .select_related("agreement__customer")
            .annotate(earlier_open=Subquery(earlier_open.values("pk")[:1]))
            .get(pk=period_id)
        )
        expected = BillingPeriod.State.VOIDED if reissue else BillingPeriod.State.OPEN
        if period.state != expected and not dry_run:
            return None
        if period.earlier_open and not dry_run:
            earlier = BillingPeriod.objects.get(pk=period.earlier_open)
            raise ClosingError(f"Close the earlier period {earlier} first.")
        agreement = period.agreement
        invoice = Invoice.objects.create(
            period=period,
            customer_id=agreement.customer_id,
            currency=agreement.currency,
            issued_at=now,
            due_at=now + timedelta(days=agreement.payment_terms_days),
            total=ZERO,
            replaces=(
                period.invoices.filter(status=Invoice.Status.VOID, replaced_by__isnull=True)
                .order_by("-voided_at")
                .first()
                if reissue
                else None
            ),
        )
        draft = _draft(invoice=invoice, period=period)
        draft.margins = margin_figures_compute(
            invoice=invoice,
            period=period,
            lines=draft.lines,
            prices=draft.prices,
            totals=draft.totals,
        )
        if dry_run:
            transaction.set_rollback(True)
            return draft
        InvoiceLine.objects.bulk_create(
            InvoiceLine(
                invoice=invoice,
                position=i,
                kind=line.kind,
                description=line.description,
                price_id=line.price_id,
                adjusted_period_id=line.adjusted_period_id,
                successes=line.successes,
                partials=line.partials,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
            )
            for i, line in enumerate(draft.lines)
        )
        invoice.total = draft.total
        invoice.number = _next_invoice_number()
        invoice.save(update_fields=["total", "number"])
        MarginFigure.objects.bulk_create(draft.margins)
        period.state, period.closed_at = BillingPeriod.State.CLOSED, now
        period.save(update_fields=["state", "closed_at"])
        if agreement.margin_target is not None:  # no target, no alert to check
            transaction.on_commit(lambda: _alert_after_close(period.pk))
    logger.info("closed period %s with invoice %s", period_id, invoice.number)
    return invoice


def invoice_void(*, invoice_id: int, reason: str, user=None) -> Invoice:
    """Void an issued invoice. It keeps its lines, marked void with the reason (audited);
    its signals are released to be billed again and its period becomes voided: later
    periods wait for it, and Finance reissues it once the data is corrected."""
    if not reason.strip():
        raise ClosingError("Give a reason for voiding the invoice.")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status != Invoice.Status.ISSUED:
            raise ClosingError(f"Invoice {invoice.number} is already void.")
        BillingPeriod.objects.select_for_update().filter(pk=invoice.period_id).update(
            state=BillingPeriod.State.VOIDED
        )
        invoice.status, invoice.void_reason = Invoice.Status.VOID, reason.strip()
        invoice.voided_at, invoice.voided_by = timezone.now(), user
        invoice._change_reason = reason.strip()
        invoice.save()
        invoice.marks.all().delete()
        invoice.margins.all().delete()  # the replacement's figures take their place
    return invoice


def period_reissue(*, period_id: int, now: datetime | None = None) -> Invoice:
    """Issue the replacement invoice of a voided period from today's data."""
    invoice = close_period(period_id=period_id, now=now, reissue=True)
    if invoice is None:
        period = BillingPeriod.objects.get(pk=period_id)
        raise ClosingError(f"Period {period} is {period.state}, not voided: nothing to reissue.")
    return invoice


def invoice_void_and_reissue(*, invoice_id: int, reason: str, user=None) -> Invoice:
    """Void an issued invoice and issue its replacement from today's data, in one
    transaction, so the period is never seen without a live invoice."""
    with transaction.atomic():
        invoice = invoice_void(invoice_id=invoice_id, reason=reason, user=user)
        return period_reissue(period_id=invoice.period_id)


def _alert_after_close(period_id: int) -> None:
    """Queue the margin check; the invoice is committed already, so a broker that does not
    answer is logged, never raised to whoever closed the period."""
    from billing.tasks import send_margin_alerts

    try:
        send_margin_alerts.delay(period_id)
    except Exception:
        logger.exception("could not queue the margin alert check of period %s", period_id)
