"""Grants for prepaid-credit tests."""

from datetime import UTC, datetime
from decimal import Decimal

from billing.credits import grant_create

START = datetime(2026, 1, 1, tzinfo=UTC)


def grant(customer, amount, *, expires_at=None, effective_at=START, **fields):
    fields.setdefault("name", f"Grant {amount}")
    fields.setdefault("currency", customer.currency)
    return grant_create(
        customer=customer,
        amount=Decimal(str(amount)),
        effective_at=effective_at,
        expires_at=expires_at,
        **fields,
    )


def ledger_sum(g) -> Decimal:
    return sum((e.amount for e in g.entries.all()), Decimal(0))
