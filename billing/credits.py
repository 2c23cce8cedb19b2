"""Prepaid credits at close: which grants an invoice draws, and how much.

The rules (docs/design.md, "Prepaid credits"):
- Grants are drawn soonest expiry first (never-expiring last), then by priority (lower
  first), then oldest. A grant is live for a period's invoice when it is effective before
  the period ends and does not expire before it starts.
- Money grants pay outcome charges (outcome lines, late-signal adjustments, less a spend
  cap's discount), and also the platform fee and minimum true-up when the grant says
  `applies_to_fees`. A credit purchase is never paid with credits.
- Outcome grants pay the first outcomes of their definition's outcome line in the period:
  under graduated prices those outcomes are priced through the tiers from the first unit
  (100 prepaid outcomes of "up to 100 @ 1.00, above @ 0.50" are worth 100.00); under any
  other model at the line's own price per outcome (its amount x covered / quantity).
- The invoice keeps its gross charges and shows one `credits_applied` line per grant and
  tax rate (negative); tax is then computed per rate on the net after credits. What no
  grant covers is billed as overage at the agreement's prices: the lines as they are.
- Every draw is a ledger entry naming the invoice; a void gives the draws back (a
  reversal entry each), so the reissue draws again from today's balances.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from billing.models import CreditGrant, CreditLedgerEntry, InvoiceLine, Price
from billing.money import ZERO, format_quantity, round_line
from billing.pricing import graduated_charge

Kind = InvoiceLine.Kind
OUTCOME_CHARGES = (Kind.OUTCOME, Kind.ADJUSTMENT, Kind.CAP_DISCOUNT)
FEES = (Kind.PLATFORM_FEE, Kind.MINIMUM_TRUE_UP)
NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass
class Draw:
    """What one invoice takes from one grant: `units` in the grant's unit, `value` in
    money, and the value per tax rate (rate or None -> value) for its lines."""

    grant: CreditGrant
    units: Decimal = ZERO
    value: Decimal = ZERO
    by_rate: dict = field(default_factory=dict)


def draw_order(grant: CreditGrant):
    return (grant.expires_at or NEVER, grant.priority, grant.effective_at, grant.pk or 0)


def grants_live(*, customer_id: int, period) -> list[CreditGrant]:
    """The customer's grants the period's invoice may draw, in drawing order (a
    preview's: nothing locked)."""
    grants = CreditGrant.objects.live_for(
        customer_id=customer_id, starts_at=period.starts_at, ends_at=period.ends_at
    ).select_related("outcome_definition")
    return sorted(grants, key=draw_order)


def grants_lock(*, customer_id: int, period) -> tuple[list[CreditGrant], list[CreditGrant]]:
    """A close's (live grants in drawing order, pending top-ups), both locked by one
    statement in id order (as voids, credit notes and expiry lock them), so two closes
    of one customer draw one after the other and each credit once."""
    live = CreditGrant.objects.live_for(
        customer_id=customer_id, starts_at=period.starts_at, ends_at=period.ends_at
    )
    pending = CreditGrant.objects.filter(
        customer_id=customer_id, source=CreditGrant.Source.TOP_UP, purchase_invoice__isnull=True
    )
    locked = list(
        CreditGrant.objects.select_for_update(of=("self",))
        .select_related("outcome_definition")
        .filter(Q(pk__in=live.values("pk")) | Q(pk__in=pending.values("pk")))
        .order_by("pk")
    )
    live_ids = set(live.values_list("pk", flat=True))
    pending_ids = set(pending.values_list("pk", flat=True))
    return (
        sorted((g for g in locked if g.pk in live_ids), key=draw_order),
        [g for g in locked if g.pk in pending_ids],
    )


def top_ups_pending(*, customer_id: int) -> list[CreditGrant]:
    """Top-ups not yet billed: the next invoice of the customer bills them."""
    grants = CreditGrant.objects.filter(
        customer_id=customer_id, source=CreditGrant.Source.TOP_UP, purchase_invoice__isnull=True
    )
    return list(grants.order_by("pk"))


def _rate_key(line):
    return line.tax_rate.pk if line.tax_rate else None


def _buckets(lines, kinds) -> dict:
    """Net of `kinds` per tax rate: {rate key: [rate, amount left]}."""
    buckets: dict = {}
    for line in lines:
        if line.kind in kinds:
            entry = buckets.setdefault(_rate_key(line), [line.tax_rate, ZERO])
            entry[1] += line.amount
    for entry in buckets.values():
        entry[1] = max(entry[1], ZERO)
    return buckets


def _take(draw: Draw, buckets: dict, wanted: Decimal) -> Decimal:
    """Take up to `wanted` from the buckets in order; returns what was taken."""
    taken = ZERO
    for key, entry in buckets.items():
        if taken >= wanted:
            break
        part = min(entry[1], wanted - taken)
        if part <= 0:
            continue
        entry[1] -= part
        taken += part
        rate_entry = draw.by_rate.setdefault(key, [entry[0], ZERO])
        rate_entry[1] += part
    return taken


def _outcome_value(price: Price, line, start: Decimal, covered: Decimal, currency: str):
    """What `covered` outcomes after the first `start` of a line are worth."""
    if price.model == Price.Model.GRADUATED:
        tiers = [(t.from_quantity, t.up_to_quantity, t.unit_price) for t in price.tiers.all()]
        return round_line(
            graduated_charge(start + covered, tiers) - graduated_charge(start, tiers), currency
        )
    return round_line(line.amount * covered / line.quantity, currency)


def credits_plan(*, lines, prices: Iterable[Price], grants, currency: str) -> list[Draw]:
    """The draws of an invoice with these lines from these grants (in drawing order,
    `remaining` as they stand). Writes nothing."""
    outcome = _buckets(lines, OUTCOME_CHARGES)
    fees = _buckets(lines, FEES)
    by_price = {price.pk: price for price in prices}
    covered_units: dict[int, Decimal] = {}  # outcome line index -> outcomes covered
    covered_value: dict[int, Decimal] = {}
    draws = []
    for grant in grants:
        draw = Draw(grant=grant)
        if grant.unit == CreditGrant.Unit.MONEY:
            wanted = grant.remaining
            draw.value = _take(draw, outcome, wanted)
            if grant.applies_to_fees:
                draw.value += _take(draw, fees, wanted - draw.value)
            draw.units = draw.value
        else:
            left = grant.remaining
            for i, line in enumerate(lines):
                price = by_price.get(line.price_id)
                if (
                    left <= 0
                    or line.kind != Kind.OUTCOME
                    or price is None
                    or price.outcome_definition_id != grant.outcome_definition_id
                    or line.quantity <= 0
                ):
                    continue
                start = covered_units.get(i, ZERO)
                covered = min(left, line.quantity - start)
                if covered <= 0:
                    continue
                if start + covered >= line.quantity:  # the rest of the line, exactly
                    value = line.amount - covered_value.get(i, ZERO)
                else:
                    value = _outcome_value(price, line, start, covered, currency)
                bucket = outcome.get(_rate_key(line))
                room = bucket[1] if bucket else ZERO
                if value > room:  # a money grant or a cap took part of it: fewer outcomes
                    covered = covered * room / value
                    value = room
                if value <= 0:
                    continue
                single = {_rate_key(line): bucket}
                _take(draw, single, value)
                covered_units[i] = start + covered
                covered_value[i] = covered_value.get(i, ZERO) + value
                left -= covered
                draw.units += covered
                draw.value += value
        if draw.value > 0:
            draws.append(draw)
    return draws


def credits_lines(draws: list[Draw]) -> list:
    """One `credits_applied` line per grant and tax rate (negative)."""
    from billing.invoicing import DraftLine

    lines = []
    for draw in draws:
        grant = draw.grant
        text = f"Prepaid credits: {grant.name}"
        if grant.unit == CreditGrant.Unit.OUTCOMES:
            text += f" ({format_quantity(draw.units)} outcomes)"
        if len(draw.by_rate) > 1:
            rates = [rate.name if rate else "no tax" for rate, _ in draw.by_rate.values()]
        for i, (rate, value) in enumerate(draw.by_rate.values()):
            lines.append(
                DraftLine(
                    kind=Kind.CREDITS_APPLIED,
                    description=text + (f" ({rates[i]})" if len(draw.by_rate) > 1 else ""),
                    amount=-value,
                    quantity=draw.units if len(draw.by_rate) == 1 else ZERO,
                    credit_grant_id=grant.pk,
                    tax_rate=rate,
                )
            )
    return lines


def purchase_lines(top_ups: list[CreditGrant], tax_rate) -> list:
    """A `credit_purchase` line per top-up the invoice bills."""
    from billing.invoicing import DraftLine

    return [
        DraftLine(
            kind=Kind.CREDIT_PURCHASE,
            description=f"Prepaid credits purchased: {grant.name} "
            f"({grant.amount_display(grant.amount)})",
            amount=grant.purchase_price if grant.purchase_price is not None else grant.amount,
            quantity=Decimal(1),
            credit_grant_id=grant.pk,
            tax_rate=tax_rate,
        )
        for grant in top_ups
    ]


def grants_expire(*, now=None) -> int:
    """Write off what is left of expired grants, with an expiry entry each. A grant waits
    while a period of its customer that started before the expiry has no live invoice
    (its invoice, or its reissue, may still draw it). Each grant is locked and re-read,
    so two beats write a remainder off once. Returns the number written off."""
    from billing.models import BillingPeriod

    now = now or timezone.now()
    waiting = BillingPeriod.objects.unsettled().filter(
        agreement__customer_id=OuterRef("customer_id"),
        starts_at__lt=OuterRef("expires_at"),
    )
    due = (
        CreditGrant.objects.filter(expires_at__lte=now, remaining__gt=0)
        .annotate(waiting=Exists(waiting))
        .filter(waiting=False)
    )
    count = 0
    for grant_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            # Locked and read again: a void committed since may have given credits
            # back and left a period awaiting its reissue (which draws them).
            grant = CreditGrant.objects.select_for_update().get(pk=grant_id)
            if grant.remaining <= 0 or not due.filter(pk=grant_id).exists():
                continue
            left = grant.remaining
            grant.remaining = ZERO
            grant.save(update_fields=["remaining"])
            CreditLedgerEntry.objects.create(
                grant=grant,
                kind=CreditLedgerEntry.Kind.EXPIRY,
                amount=-left,
                value=-left if grant.unit == CreditGrant.Unit.MONEY else ZERO,
                balance_after=ZERO,
                at=now,
                note=f"Expired {grant.expires_at:%Y-%m-%d %H:%M} UTC",
            )
            count += 1
    return count


def grant_create(*, customer, user=None, at=None, **fields) -> CreditGrant:
    """A grant and its opening ledger entry, in one transaction. The caller has
    validated the fields (billing.credit_grants.grant_validate)."""
    at = at or timezone.now()
    with transaction.atomic():
        grant = CreditGrant.objects.create(
            customer=customer, remaining=fields["amount"], created_by=user, **fields
        )
        CreditLedgerEntry.objects.create(
            grant=grant,
            kind=CreditLedgerEntry.Kind.GRANT,
            amount=grant.amount,
            value=grant.amount if grant.unit == CreditGrant.Unit.MONEY else ZERO,
            balance_after=grant.amount,
            at=at,
            created_by=user,
            note=f"{grant.get_kind_display()} grant ({grant.get_source_display()})",
        )
    return grant
