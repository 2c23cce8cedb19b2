"""The pricing lab's engine: what an agreement's issued invoices would have been under
other prices, by the rating and invoicing that issued them.

Each closed period is simulated from its live invoice: the marks that invoice stored
(which signals it billed, as successes or partials, and the period each belongs to),
priced by copies of the agreement and its prices held in memory with the proposed
changes, the prepaid credits as they stood just before it was issued (the ledger says
how much each grant had), and late signals charged against what earlier invoices had
billed then. The whole run is a read-only transaction that is rolled back: nothing is
written, locked or added to any history. With no change, every invoice is reproduced
line by line, to the minor unit (tests/test_simulations.py).

Late-signal adjustments are attributed to the period the signals belong to, as margins
are: a period's figures are its own invoice's outcomes and fees plus the adjustments
later invoices made for it."""

from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Exists, Max, OuterRef

from billing.credits import draw_order
from billing.invoicing import CREDIT_KINDS, DraftInvoice, invoice_draft
from billing.margins import margin_figures_compute
from billing.models import (
    BillingPeriod,
    CreditGrant,
    CreditLedgerEntry,
    Invoice,
    InvoiceLine,
    MarginFigure,
    Price,
    PriceAgreement,
)
from billing.money import ZERO, margin_percent
from billing.pricing import tier_problems
from billing.rating import Marks
from billing.services import closing_session
from billing.simulated_partials import Ratio, marks_with_partials, partials_check
from billing.versions import (
    AGREEMENT_TERMS,
    PRICE_TERMS,
    TermsByVersion,
    agreement_copy,
    invoice_terms,
    last_edited,
    period_priced,
    price_copy,
)

AGREEMENT_FIELDS = AGREEMENT_TERMS  # what a simulation may change: a version's terms
PRICE_FIELDS = PRICE_TERMS


# --- The proposal ----------------------------------------------------------------------
def agreement_proposed(agreement: PriceAgreement, changes: dict) -> PriceAgreement:
    """A copy of the agreement with `changes` (AGREEMENT_FIELDS) in memory; never saved."""
    for name in changes:
        if name not in AGREEMENT_FIELDS:
            raise ValidationError({name: "This field cannot be simulated."})
    proposed = agreement_copy(agreement, changes)
    proposed.clean_fields(exclude=[f.name for f in agreement._meta.fields if f.name not in changes])
    proposed.clean()
    proposed.validate_constraints()
    return proposed


def prices_proposed(prices: list[Price], changes: dict[int, dict]) -> list[Price]:
    """Copies of the prices with `changes` by price id: PRICE_FIELDS, and `tiers` as
    (above, up to or None, unit price) rows; never saved. Raises ValidationError naming
    the price and field of a proposal the agreement would refuse."""
    proposed = []
    for price in prices:
        change = dict(changes.get(price.pk, {}))
        tiers = change.pop("tiers", None)
        unknown = set(change) - set(PRICE_FIELDS)
        if unknown:
            raise ValidationError({name: "This field cannot be simulated." for name in unknown})
        if not change and tiers is None:
            proposed.append(price)
            continue
        copied = price_copy(price, change, tiers=[tuple(row) for row in tiers] if tiers else None)
        name = price.outcome_definition.name
        try:
            copied.clean_fields(exclude=[f for f in _field_names(price) if f not in change])
            copied.clean()
            copied.validate_constraints()  # the database's checks, as reads
        except ValidationError as error:
            problems = {
                name if k == NON_FIELD_ERRORS else f"{name}: {k}": v
                for k, v in error.message_dict.items()
            }
            raise ValidationError(problems) from None
        if copied.model in Price.TIERED:
            rows = tier_rows(copied)
            for i, tier in enumerate(copied.tiers.all()):
                try:
                    tier.clean_fields(exclude=["price"])
                except ValidationError as error:
                    raise ValidationError(
                        {f"{name}: tier {i + 1} {k}": v for k, v in error.message_dict.items()}
                    ) from None
            problems = tier_problems(rows)
            if not rows:
                problems = [(0, "tiers", "A tiered price needs at least one tier.")]
            if problems:
                raise ValidationError(
                    {f"{name}: tier {i + 1} {field_name}": msg for i, field_name, msg in problems}
                )
        proposed.append(copied)
    return proposed


def _field_names(price: Price) -> list[str]:
    return [f.name for f in price._meta.fields]


def tier_rows(price: Price) -> list[tuple]:
    return [(t.from_quantity, t.up_to_quantity, t.unit_price) for t in price.tiers.all()]


# --- One invoice -----------------------------------------------------------------------
def _grants_then(
    invoice: Invoice, has_grants: bool = True
) -> tuple[list[CreditGrant], list[CreditGrant]]:
    """The customer's grants as the invoice found them (copies, `remaining` as the ledger
    had it just before the invoice drew), live for its period, in drawing order; and the
    top-ups it billed. `has_grants` False: the customer has none (no query)."""
    if not has_grants:
        return [], []
    period = invoice.period
    own = CreditLedgerEntry.objects.filter(invoice=invoice).order_by("pk").first()
    entries = CreditLedgerEntry.objects.filter(grant__customer_id=invoice.customer_id)
    if own is not None:
        entries = entries.filter(pk__lt=own.pk)
    else:
        entries = entries.filter(at__lte=invoice.issued_at)
    last = entries.values("grant_id").annotate(last=Max("pk")).values_list("last", flat=True)
    then = dict(
        CreditLedgerEntry.objects.filter(pk__in=list(last)).values_list("grant_id", "balance_after")
    )
    grants = []
    for grant in CreditGrant.objects.filter(pk__in=then, currency=invoice.currency).select_related(
        "outcome_definition"
    ):
        live = grant.effective_at < period.ends_at and (
            grant.expires_at is None or grant.expires_at > period.starts_at
        )
        if live and then[grant.pk] > 0:
            grant.remaining = then[grant.pk]
            grants.append(grant)
    top_ups = list(CreditGrant.objects.filter(purchase_invoice=invoice).order_by("pk"))
    return sorted(grants, key=draw_order), top_ups


def invoice_simulate(
    *,
    invoice: Invoice,
    terms: TermsByVersion | None = None,
    has_grants: bool = True,
    session: bool = True,
    partial_fractions: dict[int, Decimal | Ratio] | None = None,
    margins: bool = True,
    edited=None,
) -> DraftInvoice:
    """The invoice `invoice` would have been under `terms` (proposed copies of each
    period's terms; its agreement version's when None), with its margins. Writes, locks
    nothing (`session` False: the caller holds the read-only closing session). `edited`
    (versions.last_edited of its agreement): an invoice issued before the agreement had
    versions and edited since is priced by the terms it was issued under."""
    terms = terms or TermsByVersion(invoice.period.agreement)
    if edited is not None:
        terms = invoice_terms(invoice, terms, edited)
    with closing_session(read_only=True) if session else nullcontext():
        period, prices = period_priced(invoice.period, terms)
        marks = marks_with_partials(Marks.of_invoice(invoice.pk), partial_fractions)
        grants, top_ups = _grants_then(invoice, has_grants)
        draft = invoice_draft(
            period=period,
            prices=prices,
            marks=marks,
            invoice_id=invoice.pk,
            grants=grants,
            top_ups=top_ups,
            as_issued=invoice,
            price_then=terms.price_then,
            rerate=lambda m: marks_with_partials(m, partial_fractions),
        )
        if margins:
            draft.margins = margin_figures_compute(
                marks=marks,
                invoice=None,
                period=period,
                lines=draft.lines,
                prices=prices,
                totals=draft.totals,
            )
    return draft


# --- An agreement over a range of periods ----------------------------------------------
@dataclass
class Figures:
    """A period's revenue (charges before credits and tax: what it consumed), costs and
    margin; and its invoices' totals (as issued, with tax, after credits)."""

    revenue: Decimal = ZERO
    costs: Decimal = ZERO
    invoiced: Decimal = ZERO

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.costs

    @property
    def margin_percent(self) -> Decimal | None:
        return margin_percent(self.margin, self.revenue)


@dataclass
class PeriodResult:
    period: BillingPeriod
    invoice: Invoice
    actual: Figures = field(default_factory=Figures)
    simulated: Figures = field(default_factory=Figures)

    @property
    def change(self) -> Decimal:
        return self.simulated.revenue - self.actual.revenue


@dataclass
class Simulation:
    agreement: PriceAgreement
    periods: list[PeriodResult]
    drafts: dict[int, DraftInvoice]  # by invoice id

    def total(self, which: str) -> Figures:
        figures = [getattr(p, which) for p in self.periods]
        return Figures(
            revenue=sum((f.revenue for f in figures), ZERO),
            costs=sum((f.costs for f in figures), ZERO),
            invoiced=sum((f.invoiced for f in figures), ZERO),
        )


def periods_closed(agreement: PriceAgreement, starts_from=None, ends_by=None):
    """The agreement's periods with a live invoice, oldest first, within the range."""
    return periods_closed_of([agreement.pk], starts_from, ends_by).get(agreement.pk, [])


def periods_closed_of(agreement_ids, starts_from=None, ends_by=None) -> dict[int, list]:
    """periods_closed for many agreements in one query, by agreement id."""
    live = Invoice.objects.filter(period=OuterRef("pk")).exclude(status=Invoice.Status.VOID)
    periods = BillingPeriod.objects.filter(agreement_id__in=agreement_ids).filter(Exists(live))
    if starts_from is not None:
        periods = periods.filter(starts_at__gte=starts_from)
    if ends_by is not None:
        periods = periods.filter(ends_at__lte=ends_by)
    found: dict[int, list] = {}
    for period in periods.order_by("agreement_id", "starts_at"):
        found.setdefault(period.agreement_id, []).append(period)
    return found


def agreement_simulate(
    *,
    agreement: PriceAgreement,
    periods: list[BillingPeriod],
    agreement_changes: dict | None = None,
    price_changes: dict[int, dict] | None = None,
    adjust=None,
    partial_fractions: dict[int, Decimal | Ratio] | None = None,
) -> Simulation:
    """Each period's actual and simulated figures under the proposed changes, made to
    the terms of each period's agreement version (the fields not changed stay as each
    period had them, so no change reproduces every invoice). `adjust(agreement, prices)`
    returns the proposed copies instead (a portfolio change: billing/portfolio.py).
    `partial_fractions`: outcome definition id -> the partial rule proposed for it:
    NOT_CHARGED, a fixed fraction, or a Ratio (simulated_partials.py)."""
    partials_check(agreement, partial_fractions or {})
    if adjust is None:

        def adjust(a, p):
            return (
                agreement_proposed(a, agreement_changes or {}),
                prices_proposed(p, price_changes or {}),
            )

    terms = TermsByVersion(agreement, adjust=adjust)
    terms.adjust(agreement, terms.prices)  # refused at once, even without a period
    with closing_session(read_only=True):  # one for every invoice replayed
        has_grants = CreditGrant.objects.filter(customer_id=agreement.customer_id).exists()
        edited = last_edited(agreement)
        results = {p.pk: PeriodResult(period=p, invoice=None) for p in periods}
        drafts = {}
        invoices = (
            Invoice.objects.filter(period__in=periods)
            .exclude(status=Invoice.Status.VOID)
            .select_related("period__agreement__customer")
            .order_by("pk")
        )
        for invoice in invoices:
            results[invoice.period_id].invoice = invoice
            draft = invoice_simulate(
                invoice=invoice,
                terms=terms,
                has_grants=has_grants,
                session=False,
                partial_fractions=partial_fractions,
                margins=False,  # the same costs either way: the invoice's own, below
                edited=edited,
            )
            drafts[invoice.pk] = draft
            for line in draft.lines:
                _add_line(
                    results, invoice.period_id, line.kind, line.adjusted_period_id, line.amount
                )
            results[invoice.period_id].simulated.invoiced += draft.total
        invoice_ids = [invoice.pk for invoice in invoices]  # by id: a subquery here took
        # 10 ms an agreement under the closing session's planner settings (measured)
        lines = InvoiceLine.objects.filter(invoice_id__in=invoice_ids).values_list(
            "invoice__period_id", "kind", "adjusted_period_id", "amount"
        )
        for period_id, kind, adjusted, amount in lines:
            _add_line(results, period_id, kind, adjusted, amount, which="actual")
        for invoice in invoices:
            results[invoice.period_id].actual.invoiced += invoice.total
        costs = MarginFigure.objects.filter(invoice_id__in=invoice_ids).values_list(
            "period_id", "cost"
        )
        for period_id, cost in costs:
            results[period_id].actual.costs += cost
            results[period_id].simulated.costs += cost
        return Simulation(
            agreement=agreement,
            periods=[r for r in results.values() if r.invoice is not None],
            drafts=drafts,
        )


def _add_line(results, period_id, kind, adjusted_period_id, amount, which="simulated"):
    """Charges count as revenue of the period they belong to (an adjustment: the period
    it adjusts, when it is in the range)."""
    if kind in CREDIT_KINDS:
        return
    target = results.get(adjusted_period_id) or results[period_id]
    getattr(target, which).revenue += amount
