"""ISO 4217 currency codes and their minor units (JPY 0, USD 2, KWD 3)."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from iso4217 import Currency

# Amounts (costs, prices, invoice amounts) are stored with 8 decimal places: the one
# precision of the whole project (billing.money builds on it; agents round costs to it).
STORED = Decimal("0.00000001")


def minor_unit(code: str) -> int:
    """Digits after the decimal point for the currency (0 where ISO gives none)."""
    return Currency(code).exponent or 0


def quantum(code: str) -> Decimal:
    """The smallest amount of the currency, e.g. Decimal('0.01') for USD."""
    return Decimal(1).scaleb(-minor_unit(code))


def validate_currency_code(value: str) -> None:
    try:
        currency = Currency(value)
    except ValueError:
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code (e.g. USD, EUR, JPY).",
            params={"value": value},
            code="invalid_currency",
        ) from None
    if currency.exponent is None:
        raise ValidationError(
            "%(value)s is not a currency money can be billed in (it has no minor unit).",
            params={"value": value},
            code="invalid_currency",
        )


def currency_parse(value: str) -> str:
    """The ISO 4217 code a client sent (any case), upper-cased; ValueError when it names
    no currency money can be billed in. The one way input currencies are read."""
    code = value.upper()
    try:
        validate_currency_code(code)
    except ValidationError:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (e.g. USD).") from None
    return code


CURRENCY_CHOICES = sorted(
    (c.code, f"{c.code} — {c.currency_name}") for c in Currency if c.exponent is not None
)
