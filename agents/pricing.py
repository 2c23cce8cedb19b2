"""LLM token usage priced from the genai-prices catalogue (a snapshot installed with the
package: offline, and the same answer for the same call every time). One path for the
costs API and for traced spans."""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from customers.currencies import STORED

MAX_COST = Decimal("1e12")
UNKNOWN = "unknown"
# Which catalogue provider prices a (vendor, model) pair, learnt once per process: a
# failed lookup costs as much as a price. What the snapshot knows does not change while
# the process runs.
_PROVIDER_OF: dict[tuple[str, str], tuple | str] = {}


class PriceError(ValueError):
    """Usage the catalogue cannot price although it knows the model (e.g. a price of
    10^12 or more: the counts are wrong)."""


def catalogue_price(
    *, vendor: str, model: str, tokens: dict[str, int], at: datetime | None = None
) -> Decimal | None:
    """The price in USD of one call's token usage at its time, at 8 places, or None for a
    model the catalogue does not know. The vendor named is tried first; one the catalogue
    spells otherwise (`aws.bedrock`) falls back to inferring the provider from the model.

    Cached input tokens are part of the input tokens, as the catalogue counts them;
    usage that reports them apart (more cached than input tokens: Anthropic's way) has
    them added to its input."""
    from genai_prices import Usage, calc_price

    known = _PROVIDER_OF.get((vendor, model), ())
    if known == UNKNOWN:
        return None
    tokens = dict(tokens)
    cached = tokens.get("cache_read_tokens", 0) + tokens.get("cache_write_tokens", 0)
    if cached > tokens.get("input_tokens", 0):
        tokens["input_tokens"] = tokens.get("input_tokens", 0) + cached
    usage = Usage(**tokens)
    for provider in known or ((vendor, None) if vendor else (None,)):
        try:
            price = calc_price(
                usage, model_ref=model, provider_id=provider, genai_request_timestamp=at
            )
        except LookupError:
            continue
        except ValueError as exc:
            raise PriceError(str(exc)) from None
        _remember((vendor, model), (provider,))
        amount = Decimal(price.total_price)
        if not amount < MAX_COST:
            raise PriceError(
                "The token usage prices above 999,999,999,999.99999999; check the counts."
            )
        return amount.quantize(STORED, rounding=ROUND_HALF_UP)
    _remember((vendor, model), UNKNOWN)
    return None


def _remember(key, value) -> None:
    if len(_PROVIDER_OF) > 10_000:
        _PROVIDER_OF.clear()
    _PROVIDER_OF[key] = value
