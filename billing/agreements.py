"""Price agreements written outside the admin (Paid's orders): an agreement with its
prices and tiers, created as the admin creates one.

Invariants kept: every row is saved one by one, so each has its django-simple-history
row (who: `changed_by`, as the change reason, since an API key is no user); no outcome
definition is priced twice for a customer on overlapping dates (ConflictError; the
database triggers of billing 0002 keep it too); the agreement's periods up to now exist.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import OutcomeDefinition, Price, PriceAgreement, PriceTier
from billing.money import ZERO
from billing.periods import periods_create
from billing.selectors import agreements_overlapping
from customers.errors import ConflictError
from customers.models import Customer

Tier = tuple[Decimal, Decimal | None, Decimal]  # from, up to (None: no end), unit price


@dataclass(frozen=True)
class PriceTerms:
    """One price of an agreement: an outcome definition and how it is charged."""

    outcome_definition: OutcomeDefinition
    model: str
    unit_price: Decimal | None = None
    included_quantity: Decimal = ZERO
    tiers: tuple[Tier, ...] = ()


def audited_save(instance, changed_by: str):
    instance._change_reason = changed_by
    instance.save()
    return instance


def agreement_create(
    *,
    customer: Customer,
    name: str,
    currency: str,
    starts_on: date,
    ends_on: date | None,
    cadence: str,
    platform_fee: Decimal,
    payment_terms_days: int,
    prices: Sequence[PriceTerms],
    changed_by: str,
    now: datetime | None = None,
) -> PriceAgreement:
    """A new agreement for the customer with these prices (see the module's invariants).
    The customer's row is locked first, as the overlap triggers lock it: two concurrent
    creates for one customer are checked one after the other."""
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        taken = agreements_overlapping(
            customer=customer,
            outcome_definition_ids=[terms.outcome_definition.pk for terms in prices],
            starts_on=starts_on,
            ends_on=ends_on,
        )
        if taken:
            clashes = "; ".join(
                f"“{terms.outcome_definition.name}” is priced by agreement {other.pk} "
                f"“{other.name}” ({other.starts_on} – {other.ends_on or 'no end'})"
                for terms in prices
                if (other := taken.get(terms.outcome_definition.pk))
            )
            raise ConflictError(
                f"This customer already has prices on these dates: {clashes}. End that "
                "agreement first, or start this one after it."
            )
        agreement = PriceAgreement(
            customer=customer,
            name=name,
            currency=currency,
            starts_on=starts_on,
            ends_on=ends_on,
            cadence=cadence,
            platform_fee=platform_fee,
            payment_terms_days=payment_terms_days,
        )
        agreement.clean()
        try:
            with transaction.atomic():
                audited_save(agreement, changed_by)
                prices_save(agreement=agreement, prices=prices, changed_by=changed_by)
        except IntegrityError as exc:
            if "overlapping" not in str(exc):
                raise
            # A concurrent agreement the check above could not see yet (the triggers').
            raise ConflictError(
                "This customer already has prices for these outcomes on these dates."
            ) from exc
        periods_create(agreement=agreement, until=now or timezone.now())
    return agreement


def prices_save(
    *, agreement: PriceAgreement, prices: Sequence[PriceTerms], changed_by: str
) -> None:
    """Save the agreement's prices and their tiers one by one (each with its history row)."""
    for terms in prices:
        price = audited_save(
            Price(
                agreement=agreement,
                outcome_definition=terms.outcome_definition,
                model=terms.model,
                unit_price=terms.unit_price,
                included_quantity=terms.included_quantity,
            ),
            changed_by,
        )
        for start, end, unit in terms.tiers:
            audited_save(
                PriceTier(price=price, from_quantity=start, up_to_quantity=end, unit_price=unit),
                changed_by,
            )
