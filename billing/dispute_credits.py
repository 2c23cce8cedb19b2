"""What accepting a dispute credits: the invoice's lines recomputed without the disputed
outcomes, by the same rating and invoicing as the close, less the lines recomputed with
them (outcomes of earlier accepted disputes are marked disputed already, so both leave
them out). Each line credits the difference it would have had.

- Tiers, included quantities, partial fractions, percent of value and cost plus follow
  from the same `_charge` arithmetic; an adjustment line (late signals) is the difference
  of its origin period's total, so it is recomputed the same way.
- Minimum true-up and spend cap are recomputed too: a true-up that rises (or a cap
  discount that shrinks) lowers the credit. The credit note's net is the difference of
  the whole invoice's net; credit lines must be positive, so that net is spread over the
  lines that decreased, in proportion to their decrease (each rounded to the minor unit,
  the largest taking the remainder).
- A difference of 0 or less (an included free quantity, inside the minimum) credits
  nothing: the dispute is accepted without a credit note.
- A line credits at most what is left of it (another credit note may have credited it).
- Each disputed outcome's share of the credit, on its own line, is in proportion to what
  it weighed there (value x fraction for percent of value, else its fraction); the shares
  add up to the credit note's net exactly.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from billing.credit_ledger import credits_as_drawn
from billing.credit_notes import line_creditable
from billing.errors import DisputeError
from billing.invoicing import invoice_draft
from billing.models import BilledSignal, Dispute, DisputedOutcome, Invoice, InvoiceLine, Price
from billing.money import ZERO, format_money
from billing.rating import MARK_COLUMNS, Marks, _q
from billing.versions import TermsByVersion, period_priced
from customers.currencies import quantum

Kind = InvoiceLine.Kind


@dataclass
class DisputeCredit:
    """The credit of a dispute on one invoice: per invoice line, and per disputed signal."""

    invoice: Invoice
    lines: list[tuple[InvoiceLine, Decimal]] = field(default_factory=list)
    shares: dict[int, Decimal] = field(default_factory=dict)

    @property
    def net(self) -> Decimal:
        return sum((amount for _, amount in self.lines), ZERO)


def _marks_as(invoice_id: int, outcomes: dict[int, tuple[str, bool]]) -> Marks:
    """The invoice's marks with these signals' outcome and `counted` replaced."""
    marks = Marks.of_invoice(invoice_id)
    if not outcomes:
        return marks
    columns, params = [], []
    for name in MARK_COLUMNS:
        if name in ("outcome", "counted"):
            cases = " ".join("WHEN %s THEN %s" for _ in outcomes)
            columns.append(f"CASE m.signal_id {cases} ELSE m.{_q(name)} END")
            index = 0 if name == "outcome" else 1
            for signal_id, values in outcomes.items():
                params += [signal_id, values[index]]
        else:
            columns.append(f"m.{_q(name)}")
    names = ", ".join(f"{c} AS {_q(n)}" for c, n in zip(columns, MARK_COLUMNS, strict=True))
    return Marks(f"SELECT {names} FROM ({marks.sql}) m", (*params, *marks.params))


def _marks_without(invoice_id: int, signal_ids: list[int]) -> Marks:
    """The invoice's marks as if these signals were disputed (not counted)."""
    return _marks_as(invoice_id, dict.fromkeys(signal_ids, (BilledSignal.Outcome.DISPUTED, False)))


def _check_as_issued(invoice: Invoice, period, prices: list[Price], price_then) -> None:
    """The invoice recomputed as issued (its earlier disputed outcomes as it billed them)
    must give its stored lines: otherwise its agreement's prices, tiers, fee, minimum or
    cap, or the costs a cost-plus price charged, changed since, and a recomputed credit
    would not be what the outcomes added. Refused then: Finance credits by hand."""
    earlier = {
        d.signal_id: (d.billed_outcome, d.billed_counted)
        for d in DisputedOutcome.objects.filter(
            dispute__invoice=invoice,
            dispute__state=Dispute.State.ACCEPTED,
            signal__billing_mark__invoice=invoice,
        ).exclude(billed_outcome="")
    }
    issued = invoice_draft(
        period=period,
        prices=prices,
        price_then=price_then,
        marks=_marks_as(invoice.pk, earlier),
        invoice_id=invoice.pk,
        **credits_as_drawn(invoice),
    )
    stored: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    descriptions = {}
    for line in invoice.lines.all():
        stored[_key(line)] += line.amount
        descriptions.setdefault(_key(line), line.description)
    now: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    for line in issued.lines:
        now[_key(line)] += line.amount
    for key in stored.keys() | now.keys():
        if stored[key] != now[key]:
            currency = invoice.currency
            name = descriptions.get(key, key[0].replace("_", " "))
            raise DisputeError(
                f"dispute: invoice {invoice.number} no longer recomputes as issued (“{name}” "
                f"was {format_money(stored[key], currency)} {currency}, would be "
                f"{format_money(now[key], currency)} {currency} today: the agreement's prices "
                "or terms, or the costs it priced, changed since). What the outcomes added "
                "cannot be recomputed: reject the dispute and credit the invoice with a "
                "credit note."
            )


def _key(line) -> tuple:
    """A line of the draft and the invoice's line it recomputes (a spend cap split by tax
    rate sums into one: it never decreases, so it is never credited)."""
    rate = None
    if line.kind == Kind.CREDITS_APPLIED:  # a grant's credits are one line per tax rate
        rate = line.tax_rate.pk if line.tax_rate else None
    return (line.kind, line.price_id, line.adjusted_period_id, line.credit_grant_id, rate)


def _split(amount: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """`amount` in proportion to `weights`, at the minor unit, adding up exactly: each
    share rounded down, the units left to the largest remainders (equal weights when
    they are all 0)."""
    if amount < 0:  # prepaid credits given back: the same split, negative
        return [-share for share in _split(-amount, weights, currency)]
    unit = quantum(currency)
    total = sum(weights, ZERO)
    if total <= 0:
        weights, total = [Decimal(1)] * len(weights), Decimal(len(weights))
    raw = [amount * w / total for w in weights]
    shares = [r.quantize(unit, rounding=ROUND_DOWN) for r in raw]
    left = int((amount - sum(shares, ZERO)) / unit)
    by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - shares[i], reverse=True)
    for i in by_remainder[:left]:
        shares[i] += unit
    return shares


def _spread(decreases: list[tuple], net: Decimal, currency: str) -> list[tuple]:
    """The net credit over the lines that decreased (see the module's docstring)."""
    total = sum((d for _, d in decreases), ZERO)
    if total == net:
        return decreases
    shares = _split(net, [d for _, d in decreases], currency)
    return [(line, share) for (line, _), share in zip(decreases, shares, strict=True)]


def _weights(marks: list[BilledSignal], price: Price | None) -> list[Decimal]:
    if price is not None and price.model == Price.Model.PERCENT_OF_VALUE:
        return [(m.value or ZERO) * m.fraction for m in marks]
    return [m.fraction for m in marks]


def dispute_credit_compute(*, invoice: Invoice, signal_ids: list[int]) -> DisputeCredit:
    """What disputing these signals (billed by `invoice`) credits on it. A read: the
    caller holds the invoice's row lock when it acts on the result."""
    terms = TermsByVersion(invoice.period.agreement)
    period, prices = period_priced(invoice.period, terms)
    currency = invoice.currency
    _check_as_issued(invoice, period, prices, terms.price_then)
    credits = credits_as_drawn(invoice)
    before = invoice_draft(
        period=period,
        prices=prices,
        marks=Marks.of_invoice(invoice.pk),
        invoice_id=invoice.pk,
        price_then=terms.price_then,
        **credits,
    )
    after = invoice_draft(
        period=period,
        prices=prices,
        marks=_marks_without(invoice.pk, signal_ids),
        invoice_id=invoice.pk,
        price_then=terms.price_then,
        **credits,
    )
    differences: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    for line in before.lines:
        differences[_key(line)] += line.amount
    for line in after.lines:
        differences[_key(line)] -= line.amount
    credit = DisputeCredit(invoice=invoice)
    left = {_key(line): (line, amount) for line, amount in line_creditable(invoice)}
    # Prepaid credits the invoice no longer needs go back to their grants (a negative
    # credit on their line, at most what is left of it to give back).
    given_back = [
        (left[key][0], max(d, left[key][1]))
        for key, d in differences.items()
        if key[0] == Kind.CREDITS_APPLIED and d < 0 and key in left and left[key][1] < 0
    ]
    back = sum((d for _, d in given_back), ZERO)
    net = sum((d for k, d in differences.items() if k[0] != Kind.CREDITS_APPLIED), ZERO)
    if net <= 0:
        credit.shares = dict.fromkeys(signal_ids, ZERO)
        return credit
    decreases = [(left[key][0], d) for key, d in differences.items() if d > 0 and key in left]
    spread = _spread(decreases, min(net, sum((d for _, d in decreases), ZERO)), currency)
    credit.lines = [
        (line, min(amount, left[_key(line)][1]))
        for line, amount in spread
        if min(amount, left[_key(line)][1]) > 0
    ]
    charged = sum((amount for _, amount in credit.lines), ZERO)
    credit.lines += [(line, d) for line, d in given_back if d < 0 and -back <= charged]
    credit.shares = _shares(credit, signal_ids, prices)
    return credit


def _shares(credit: DisputeCredit, signal_ids: list[int], prices: list[Price]) -> dict:
    """Each disputed signal's share of the credit, by the line that billed it."""
    by_price = {p.pk: p for p in prices}
    marks = list(BilledSignal.objects.filter(signal_id__in=signal_ids).order_by("signal_id"))
    shares = dict.fromkeys(signal_ids, ZERO)
    period_id = credit.invoice.period_id
    for line, amount in credit.lines:
        origin = line.adjusted_period_id if line.kind == Kind.ADJUSTMENT else period_id
        own = [m for m in marks if m.price_id == line.price_id and m.period_id == origin]
        own = own or marks  # a line of no disputed outcome (never expected): shared by all
        weights = _weights(own, by_price.get(line.price_id))
        for mark, share in zip(own, _split(amount, weights, credit.invoice.currency), strict=True):
            shares[mark.signal_id] += share
    return shares
