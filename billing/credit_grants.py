"""Creating prepaid credit grants: the checks every surface (admin, staff API, top-ups,
recurring allowances) applies before credits.grant_create writes a grant and its opening
ledger entry."""

from decimal import Decimal

from billing.models import CreditGrant, OutcomeDefinition
from customers.currencies import minor_unit
from customers.models import Customer

LIMIT = Decimal("1e12")  # below the stored precision (20 digits, 8 decimal places)


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
            "The purchase price must be zero or more, below 1,000,000,000,000, with "
            f"{places} decimal places at most."
        )
    definition = values.get("outcome_definition")
    if unit == CreditGrant.Unit.OUTCOMES:
        if definition is None:
            problems["outcome_definition"] = "An outcome grant names the outcome it covers."
        elif not isinstance(definition, OutcomeDefinition):
            problems["outcome_definition"] = "Unknown outcome definition."
    elif definition is not None:
        problems["outcome_definition"] = "Only an outcome grant names an outcome definition."
    effective_at, expires_at = values.get("effective_at"), values.get("expires_at")
    if effective_at is None:
        problems["effective_at"] = "Give the date the grant takes effect."
    elif expires_at is not None and expires_at <= effective_at:
        problems["expires_at"] = "The expiry must be after the effective date."
    for field in ("name", "note", "reference"):
        if "\x00" in str(values.get(field) or ""):
            problems[field] = "Remove the NUL character from the text."
    if not str(values.get("name") or "").strip():
        problems["name"] = "Give the grant a name (it is shown on invoices)."
    return problems
