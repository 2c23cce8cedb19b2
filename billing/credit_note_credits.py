"""Prepaid credits follow the charges they paid when an invoice is credited line by line.

Credits paid charges before cash did: a 4.00 outcome paid by 4.00 of credits, on an
invoice whose 500.00 fee was paid in cash, was not paid in cash. Crediting that outcome
alone must give the 4.00 of credits back to their grant, not refund 4.00 of money.

So after the lines a credit note names, the credits still applied on the invoice must
fit in the charges still standing that they could have paid; what does not fit is given
back on the credits lines with the rest (`credits_follow`). Which charges a credits line
could have paid is what closing let it pay (billing/credits.py): an outcome grant, the
outcome lines of its definition; a money grant, outcome charges (outcomes, adjustments,
a cap's discount), and fees too when the grant applies to fees; at the line's tax rate.
These sets nest (one definition's outcomes ⊂ outcome charges ⊂ charges with fees), so
fitting the narrowest first is the fit that gives back least."""

from decimal import Decimal

from billing.credits import FEES, OUTCOME_CHARGES
from billing.errors import CreditNoteError
from billing.models import CreditGrant, InvoiceLine
from billing.money import ZERO, format_money

Kind = InvoiceLine.Kind


def _scope(line) -> tuple[int, int | None]:
    """(narrowness, outcome definition) of what a credits line's grant could pay."""
    grant = line.credit_grant
    if grant.unit == CreditGrant.Unit.OUTCOMES:
        return 0, grant.outcome_definition_id
    return (2 if grant.applies_to_fees else 1), None


def credits_follow(creditable: list[tuple], picked: list[tuple]) -> list[tuple]:
    """The (credits line, negative amount) pairs to add to `picked` so that the credits
    left on the invoice fit in the charges left that they could pay. `creditable`: every
    line of the invoice with what is left to credit on it (credits lines: negative);
    `picked`: the (line, amount) pairs the credit note credits so far."""
    by_line = {}
    for line, amount in picked:
        by_line[line.pk] = by_line.get(line.pk, ZERO) + amount
    # What each charge line has left once this note is issued, per tax rate.
    outcomes: dict = {}  # rate -> outcome charges left (a cap's discount included)
    fees: dict = {}
    of_definition: dict = {}  # (rate, definition) -> outcome lines left
    credits = []
    for line, left in creditable:
        after = left - by_line.get(line.pk, ZERO)
        rate = line.tax_rate_id
        if line.kind == Kind.CREDITS_APPLIED:
            if after < 0:
                credits.append((line, -after))
        elif line.kind in OUTCOME_CHARGES:
            outcomes[rate] = outcomes.get(rate, ZERO) + after
            if line.kind == Kind.OUTCOME and line.price_id is not None:
                key = (rate, line.price.outcome_definition_id)
                of_definition[key] = of_definition.get(key, ZERO) + after
        elif line.kind in FEES:
            fees[rate] = fees.get(rate, ZERO) + after
    outcomes = {rate: max(value, ZERO) for rate, value in outcomes.items()}
    fees = {rate: max(value, ZERO) for rate, value in fees.items()}
    added = []
    for line, applied in sorted(credits, key=lambda pair: (_scope(pair[0])[0], pair[0].pk)):
        rate = line.tax_rate_id
        narrowness, definition = _scope(line)
        room = outcomes.get(rate, ZERO)
        if narrowness == 0:
            room = min(room, max(of_definition.get((rate, definition), ZERO), ZERO))
        fits = min(applied, room)
        outcomes[rate] = outcomes.get(rate, ZERO) - fits
        if narrowness == 0:
            key = (rate, definition)
            of_definition[key] = of_definition.get(key, ZERO) - fits
        if narrowness == 2 and fits < applied:
            more = min(applied - fits, fees.get(rate, ZERO))
            fees[rate] = fees.get(rate, ZERO) - more
            fits += more
        if fits < applied:
            added.append((line, -(applied - fits)))
    return added


def merged(picked: list[tuple], added: list[tuple]) -> list[tuple]:
    """`picked` with `added` folded in: one pair per line, the order kept."""
    extra: dict[int, Decimal] = {}
    for line, amount in added:
        extra[line.pk] = extra.get(line.pk, ZERO) + amount
    result = [(line, amount + extra.pop(line.pk, ZERO)) for line, amount in picked]
    result += [(line, extra[line.pk]) for line, _ in added if line.pk in extra]
    return result


def refuse_negative_rate(picked: list[tuple], currency: str) -> None:
    """Credits given back at one tax rate must not exceed the charges credited at that
    rate: otherwise a charge taxed at 20% could be cancelled against one at 0%."""
    nets: dict = {}
    for line, amount in picked:
        key = line.tax_rate_id
        name = line.tax_rate.name if line.tax_rate_id else "no tax"
        nets[key] = (name, nets.get(key, ("", ZERO))[1] + amount)
    for name, net in nets.values():
        if net < 0:
            raise CreditNoteError(
                f"lines: at {name} the credit note would give back "
                f"{format_money(-net, currency)} {currency} more prepaid credits than it "
                "credits charges at that rate; credit the charges those credits paid."
            )
