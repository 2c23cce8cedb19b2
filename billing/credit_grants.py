"""Creating prepaid credit grants: the checks every surface (admin, staff API, top-ups,
recurring allowances) applies before credits.grant_create writes a grant and its opening
ledger entry; a grant created once per client reference (the staff API's
Idempotency-Key); top-ups, which the customer's next invoice bills as a
`credit_purchase` line (credits.top_ups_pending), or their own invoice issued at once
(billing/top_up_invoices.py)."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from billing.credits import grant_create
from billing.errors import GrantError
from billing.models import BillingPeriod, CreditGrant, OutcomeDefinition, Price
from billing.top_up_invoices import (
    top_up_charge_problem,
    top_up_invoice_issue,
    top_up_invoice_problem,
)
from customers.currencies import minor_unit
from customers.models import Customer

LIMIT = Decimal("1e12")  # below the stored precision (20 digits, 8 decimal places)
# How far ahead a grant's dates may go: a commitment runs a few years; 9999-12-31 is a
# typo for "never expires" (leave the expiry empty), and a chart cannot draw it.
YEARS_AHEAD = 10
REFERENCE_MAX = CreditGrant._meta.get_field("reference").max_length
# What a grant is when a request leaves a field out (the currency: the customer's).
GRANT_DEFAULTS = {
    "kind": CreditGrant.Kind.PAID,
    "unit": CreditGrant.Unit.MONEY,
    "outcome_definition": None,
    "purchase_price": None,
    "expires_at": None,
    "priority": 100,
    "applies_to_fees": False,
    "note": "",
}
# The fields a retry repeats for its reference to answer the grant created first
# (effective_at too when the request gives it; left out, it is the time of the request).
REPLAYED = (
    "name",
    "kind",
    "unit",
    "currency",
    "outcome_definition",
    "amount",
    "purchase_price",
    "expires_at",
    "priority",
    "applies_to_fees",
    "note",
    "source",
)
TOP_UP_SOURCES = (CreditGrant.Source.TOP_UP, CreditGrant.Source.TOP_UP_NOW)


def grant_problems(*, customer: Customer, values: dict) -> dict[str, str]:
    """{field: what to fix} for a grant of `customer` with these values (model field
    names: unit, currency, amount, outcome_definition, effective_at, expires_at,
    purchase_price, ...). Empty when it can be created."""
    problems: dict[str, str] = {}
    unit = values.get("unit") or CreditGrant.Unit.MONEY
    currency = values.get("currency") or customer.currency
    amount = values.get("amount")
    if currency != customer.currency:
        problems["currency"] = (
            f"Customer {customer.external_id} is invoiced in {customer.currency}: a grant "
            f"in {currency} could never be drawn. Grant {customer.currency}."
        )
    else:
        other = customer.agreements.exclude(currency=currency).values_list("name", flat=True)
        if other:
            problems["currency"] = (
                f"Agreement “{other[0]}” of this customer is not in {currency}: make the "
                "agreement and the customer the same currency first."
            )
    places = minor_unit(customer.currency)  # a grant in another currency is refused above
    if amount is None:
        problems["amount"] = "Give the amount granted."
    elif not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        problems["amount"] = "The amount must be a positive number."
    elif amount >= LIMIT:
        problems["amount"] = "The amount must be below 1,000,000,000,000."
    elif unit == CreditGrant.Unit.MONEY and amount != round(amount, places):
        problems["amount"] = f"{currency} has {places} decimal places: round the amount to them."
    elif amount != round(amount, 8):
        problems["amount"] = "At most 8 decimal places."
    price = values.get("purchase_price")
    if price is not None and (
        not isinstance(price, Decimal)
        or not price.is_finite()
        or price < 0
        or price >= LIMIT
        or price != round(price, places)
    ):
        problems["purchase_price"] = (
            "The purchase price must be zero or more, below 1,000,000,000,000, in "
            f"{customer.currency}'s minor unit ({places} decimal places at most)."
        )
    definition = values.get("outcome_definition")
    if unit == CreditGrant.Unit.OUTCOMES:
        if definition is None:
            problems["outcome_definition"] = "An outcome grant names the outcome it covers."
        elif not isinstance(definition, OutcomeDefinition):
            problems["outcome_definition"] = "Unknown outcome definition."
        elif not Price.objects.filter(
            agreement__customer=customer, outcome_definition=definition
        ).exists():
            problems["outcome_definition"] = (
                f"No agreement of customer {customer.external_id} prices “{definition.name}”: "
                "its credits could never be drawn. Price the outcome in an agreement first."
            )
    elif definition is not None:
        problems["outcome_definition"] = "Only an outcome grant names an outcome definition."
    effective_at, expires_at = values.get("effective_at"), values.get("expires_at")
    if effective_at is None:
        problems["effective_at"] = "Give the date the grant takes effect."
    elif expires_at is not None and expires_at <= effective_at:
        problems["expires_at"] = "The expiry must be after the effective date."
    latest = datetime(timezone.now().year + YEARS_AHEAD, 1, 1, tzinfo=UTC)
    for field, when in (("effective_at", effective_at), ("expires_at", expires_at)):
        if field not in problems and when is not None and when >= latest:
            problems[field] = (
                f"Must be before {latest:%Y-%m-%d} ({YEARS_AHEAD} years ahead at most); "
                "leave the expiry empty for credits that never expire."
            )
    for field in ("name", "note", "reference"):
        if "\x00" in str(values.get(field) or ""):
            problems[field] = "Remove the NUL character from the text."
    if not str(values.get("name") or "").strip():
        problems["name"] = "Give the grant a name (it is shown on invoices)."
    return problems


def top_up_problems(*, customer: Customer, values: dict) -> dict[str, str]:
    """{field: what to fix} for a top-up: only a top-up has a purchase price, and an
    outcome top-up needs one (its amount is outcomes, not money); a top-up is paid
    credits, expiring after now, with an agreement ahead whose invoices draw it; one
    invoiced at once is not free and needs an agreement in its currency and a complete
    seller profile; the invoice's total with tax stays below LIMIT."""
    problems: dict[str, str] = {}
    source = values.get("source")
    price = values.get("purchase_price")
    if source not in TOP_UP_SOURCES:
        if price is not None:
            problems["purchase_price"] = (
                "Only a top-up (billed on the next invoice) has a purchase price."
            )
        return problems
    if values.get("unit") == CreditGrant.Unit.OUTCOMES and price is None:
        problems["purchase_price"] = (
            "An outcome top-up needs its purchase price: what the customer is invoiced for "
            "the outcomes."
        )
    if values.get("kind", CreditGrant.Kind.PAID) != CreditGrant.Kind.PAID:
        problems["kind"] = (
            "A top-up is bought: its kind is paid. Give free credits as a promotional grant "
            "that is not a top-up."
        )
    expires_at = values.get("expires_at")
    if isinstance(expires_at, datetime) and expires_at <= timezone.now():
        problems["expires_at"] = (
            "A top-up is bought to be used: its expiry must be in the future (or empty)."
        )
    today = timezone.now().date()
    billing_ahead = (
        customer.agreements.filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today)).exists()
        or BillingPeriod.objects.unsettled().filter(agreement__customer=customer).exists()
    )
    if not billing_ahead:
        problems["top_up"] = (
            f"Customer {customer.external_id} has no agreement whose next invoice would bill "
            "the top-up or draw its credits: add or extend an agreement first."
        )
    currency = values.get("currency") or customer.currency
    if source == CreditGrant.Source.TOP_UP_NOW:
        if price == 0:
            problems["purchase_price"] = (
                "A top-up invoiced at once is sold above zero: give its price, or give free "
                "credits as a promotional grant."
            )
        problem = top_up_invoice_problem(customer=customer, currency=currency)
        if problem:
            problems["invoice_now"] = problem
    charge = values.get("amount") if price is None else price
    if "purchase_price" not in problems and "amount" not in problems:
        problem = top_up_charge_problem(customer=customer, currency=currency, charge=charge)
        if problem:
            problems["amount" if price is None else "purchase_price"] = problem
    return problems


def _differences(grant: CreditGrant, values: dict) -> list[str]:
    fields = [*REPLAYED, *(["effective_at"] if values.get("effective_at") else [])]
    differ = []
    for name in fields:
        stored = getattr(grant, f"{name}_id" if name == "outcome_definition" else name)
        sent = values.get(name)
        if getattr(sent, "pk", sent) != stored:
            differ.append(name)
    return differ


def _replayed(grant: CreditGrant, values: dict) -> tuple[CreditGrant, bool]:
    differ = _differences(grant, values)
    if differ:
        raise GrantError(
            {
                "reference": f"Grant {grant.pk} was created with this reference by another "
                f"request ({', '.join(differ)} differ): send a new reference for a new grant."
            },
            conflict=True,
        )
    return grant, False


def grant_issue(*, customer: Customer, user=None, at: datetime | None = None, **fields):
    """credits.grant_create, and a top-up's own invoice when it is invoiced at once, in
    one transaction. The caller has checked grant_problems and top_up_problems."""
    at = at or timezone.now()
    with transaction.atomic():
        grant = grant_create(customer=customer, user=user, at=at, **fields)
        if grant.source == CreditGrant.Source.TOP_UP_NOW:
            top_up_invoice_issue(grant=grant, at=at)
    return grant


def grant_create_once(
    *,
    customer: Customer,
    values: dict,
    reference: str = "",
    user=None,
    at: datetime | None = None,
) -> tuple[CreditGrant, bool]:
    """Create the grant `values` describe (model field names, `source` included; left
    out: GRANT_DEFAULTS, the customer's currency, effective now), with its opening
    ledger entry; (grant, True). With a `reference`, once per customer: the same request
    again answers the grant created first, (grant, False), however many are sent at
    once (a unique key); the reference with other values is refused. GrantError names
    each field to fix; nothing is written then."""
    at = at or timezone.now()
    given = {name: value for name, value in values.items() if value is not None}
    values = {**GRANT_DEFAULTS, "currency": customer.currency, **given}
    if reference:
        first = CreditGrant.objects.filter(customer=customer, reference=reference).first()
        if first is not None:
            return _replayed(first, values)
    values.setdefault("effective_at", at)
    problems = {
        **top_up_problems(customer=customer, values=values),
        **grant_problems(customer=customer, values={**values, "reference": reference}),
    }
    if len(reference) > REFERENCE_MAX:
        problems["reference"] = f"At most {REFERENCE_MAX} characters."
    if problems:
        raise GrantError(problems)
    try:
        with transaction.atomic():
            grant = grant_issue(customer=customer, user=user, at=at, reference=reference, **values)
    except IntegrityError:
        # The same reference sent twice at once: the other request created it.
        first = CreditGrant.objects.filter(customer=customer, reference=reference).first()
        if not reference or first is None:
            raise
        return _replayed(first, {**values, "effective_at": given.get("effective_at")})
    return grant, True


def top_up_request(
    *,
    customer: Customer,
    amount: Decimal,
    purchase_price: Decimal | None = None,
    name: str = "Top-up",
    reference: str = "",
    user=None,
    at: datetime | None = None,
    invoice_now: bool = False,
    **fields,
) -> tuple[CreditGrant, bool]:
    """A top-up: a paid grant usable at once, billed on the customer's next invoice as a
    `credit_purchase` line at `purchase_price` (None: its amount) with the agreement's
    tax. A void of that invoice puts it back to pending; the reissue bills it again.
    With `invoice_now`, that line is its own invoice, issued at once (its void cancels
    the credits). `fields`: other grant fields (unit, outcome_definition, expires_at...)."""
    values = {
        **fields,
        "name": name,
        "amount": amount,
        "purchase_price": purchase_price,
        "source": CreditGrant.Source.TOP_UP_NOW if invoice_now else CreditGrant.Source.TOP_UP,
    }
    return grant_create_once(
        customer=customer, values=values, reference=reference, user=user, at=at
    )
