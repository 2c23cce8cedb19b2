"""Agreement versions, read: which terms bill a period, and terms as stored data.

An agreement without versions bills every period with its prices as they stand. Once a
change is saved after it billed (billing/version_changes.py), it has versions: each bills
the periods starting from its `effective_from` until the next one's, and the agreement's
own rows (what the admin shows and edits) hold the newest version's terms. A period is
priced by copies of the rows, held in memory, with its version's stored terms: what
the close, the preview, the live balance, dispute credits and the pricing lab all use,
so an invoice is always priced by one version, whole. An invoice issued before its
agreement had any version was priced by the rows as they stood: replayed, it is priced
by their history at the time (`invoice_terms`).

Terms as data (`AgreementVersion.terms`, JSON): {"platform_fee", "minimum_commitment",
"spend_cap", "prices": {outcome definition id: {"model", "unit_price",
"percent_of_value", "value_field", "markup_percent", "included_quantity", "tax_rate",
"tiers": [[above, up to or null, unit price], ...]}}}, amounts as decimal strings."""

import copy
from decimal import Decimal

from django.db.models import Max

from billing.errors import ClosingError
from billing.models import AgreementVersion, BillingPeriod, Price, PriceAgreement, PriceTier
from billing.rating import prices_of

AGREEMENT_TERMS = ("platform_fee", "minimum_commitment", "spend_cap")
PRICE_TERMS = (
    "model",
    "unit_price",
    "percent_of_value",
    "value_field",
    "markup_percent",
    "included_quantity",
)
DECIMAL_TERMS = {
    "platform_fee",
    "minimum_commitment",
    "spend_cap",
    "unit_price",
    "percent_of_value",
    "markup_percent",
    "included_quantity",
}


def _text(value):
    return None if value is None else str(Decimal(value).normalize() + 0)


def _number(value):
    return None if value is None else Decimal(value)


def terms_read(agreement: PriceAgreement, prices: list[Price], tiers_of=None) -> dict:
    """The agreement's and prices' terms as data (rows or in-memory copies; `tiers_of`
    gives a price's tiers, its own by default)."""
    tiers_of = tiers_of or (lambda price: price.tiers.all())
    return {
        **{name: _text(getattr(agreement, name)) for name in AGREEMENT_TERMS},
        "prices": {
            str(price.outcome_definition_id): {
                **{
                    name: _text(getattr(price, name))
                    if name in DECIMAL_TERMS
                    else getattr(price, name)
                    for name in PRICE_TERMS
                },
                "tax_rate": price.tax_rate_id,
                "tiers": [
                    [_text(t.from_quantity), _text(t.up_to_quantity), _text(t.unit_price)]
                    for t in (tiers_of(price) if price.model in Price.TIERED else [])
                ],
            }
            for price in prices
        },
    }


def agreement_copy(agreement: PriceAgreement, values: dict) -> PriceAgreement:
    """A copy of the agreement with `values` set, in memory only."""
    copied = copy.copy(agreement)
    copied._state = copy.copy(agreement._state)
    for name, value in values.items():
        setattr(copied, name, value)
    return copied


def price_copy(price: Price, values: dict, tiers: list | None = None) -> Price:
    """A copy of the price with `values` set and, if given, `tiers` as (above, up to or
    None, unit price) rows, in memory only."""
    copied = copy.copy(price)
    copied._state = copy.copy(price._state)
    copied._state.fields_cache = dict(price._state.fields_cache)
    copied._prefetched_objects_cache = {}
    for name, value in values.items():
        setattr(copied, name, value)
    if copied.model in Price.TIERED:
        rows = (
            tiers
            if tiers is not None
            else [(t.from_quantity, t.up_to_quantity, t.unit_price) for t in price.tiers.all()]
        )
        cached = PriceTier.objects.none()
        cached._result_cache = [
            PriceTier(price=copied, from_quantity=lo, up_to_quantity=hi, unit_price=unit)
            for lo, hi, unit in rows
        ]
        cached._prefetch_done = True
        copied._prefetched_objects_cache["tiers"] = cached
    return copied


def terms_apply(
    agreement: PriceAgreement, prices: list[Price], terms: dict
) -> tuple[PriceAgreement, list[Price]]:
    """Copies of the agreement and its prices carrying `terms` (a version's)."""
    copied = agreement_copy(agreement, {name: _number(terms[name]) for name in AGREEMENT_TERMS})
    by_outcome = terms["prices"]
    missing = [
        p.outcome_definition.name for p in prices if str(p.outcome_definition_id) not in by_outcome
    ]
    if missing or len(by_outcome) != len(prices):
        raise ClosingError(
            f"Agreement “{agreement.name}”: its versions price other outcomes than it "
            f"does ({', '.join(missing) or 'an outcome removed since'}); price each outcome "
            "in every version."
        )
    copies = []
    for price in prices:
        stored = by_outcome[str(price.outcome_definition_id)]
        values = {
            name: _number(stored[name]) if name in DECIMAL_TERMS else stored[name]
            for name in PRICE_TERMS
        }
        values["tax_rate_id"] = stored["tax_rate"]
        tiers = [tuple(_number(v) for v in row) for row in stored["tiers"]]
        copied_price = price_copy(price, values, tiers)
        if price.tax_rate_id != stored["tax_rate"]:
            copied_price._state.fields_cache.pop("tax_rate", None)
        copies.append(copied_price)
    return copied, copies


def versions_of(agreement: PriceAgreement) -> list[AgreementVersion]:
    return list(AgreementVersion.objects.filter(agreement=agreement).order_by("effective_from"))


def version_at(versions: list[AgreementVersion], at) -> AgreementVersion | None:
    """The version billing a period that starts at `at` (None: the agreement has none)."""
    found = versions[0] if versions else None
    for version in versions:
        if version.effective_from <= at:
            found = version
    return found


class TermsByVersion:
    """The agreement and prices that price each of an agreement's periods: copies
    carrying its version's terms (the rows themselves when the agreement has none), made
    once per version; `price_then` gives invoice_draft the price an earlier period's
    late signals are charged at. `adjust(agreement, prices)` may change them (a
    pricing-lab proposal)."""

    def __init__(self, agreement: PriceAgreement, adjust=None):
        self.agreement = agreement
        self.prices = prices_of(agreement)
        self.versions = versions_of(agreement)
        self.adjust = adjust or (lambda a, p: (a, p))
        self.cache: dict = {}

    def of(self, period: BillingPeriod) -> tuple[PriceAgreement, list[Price]]:
        version = version_at(self.versions, period.starts_at)
        key = None if version is None else version.pk
        if key not in self.cache:
            base = (
                (self.agreement, self.prices)
                if key is None
                else terms_apply(self.agreement, self.prices, version.terms)
            )
            self.cache[key] = self.adjust(*base)
        return self.cache[key]

    def price_then(self, period: BillingPeriod, price: Price) -> Price:
        _, prices = self.of(period)
        return next((p for p in prices if p.pk == price.pk), price)


def terms_normal(terms: dict) -> dict:
    """`terms` with every amount written as terms_read writes it (so equal terms compare
    equal: "8.00" and "8" are one price)."""
    return {
        **{name: _text(terms[name]) for name in AGREEMENT_TERMS},
        "prices": {
            str(outcome): {
                **{
                    name: _text(price[name]) if name in DECIMAL_TERMS else price[name]
                    for name in PRICE_TERMS
                },
                "tax_rate": price["tax_rate"],
                "tiers": [[_text(v) for v in row] for row in price["tiers"]],
            }
            for outcome, price in terms["prices"].items()
        },
    }


def agreement_now(agreement: PriceAgreement, *, now, versions: list | None = None):
    """The agreement with the fee, minimum and cap in effect at `now` (what Paid's order
    shows): a version scheduled from a later period start is not in effect yet, though
    the agreement's row holds it. `versions` (prefetched, by effective date) saves a
    query."""
    version = version_at(versions_of(agreement) if versions is None else versions, now)
    if version is None:
        return agreement
    return agreement_copy(
        agreement, {name: _number(version.terms[name]) for name in AGREEMENT_TERMS}
    )


def prices_now(agreement: PriceAgreement, *, now) -> list[Price]:
    """The agreement's prices in effect at `now` (copies carrying its version's terms;
    the rows when it has none, or when its version prices other outcomes)."""
    prices = prices_of(agreement)
    version = version_at(versions_of(agreement), now)
    if version is None:
        return prices
    try:
        return terms_apply(agreement, prices, version.terms)[1]
    except ClosingError:
        return prices


class TermsThen(TermsByVersion):
    """Every period priced by one set of terms (`terms`, terms_read's form): those an
    invoice issued before its agreement had versions was issued under, its late-signal
    adjustments included (a close then priced everything at the rows as they stood)."""

    def __init__(self, by_version: TermsByVersion, terms: dict):
        # The agreement, its prices and the proposal of the terms at hand: no query.
        self.agreement, self.prices = by_version.agreement, by_version.prices
        self.versions, self.adjust = by_version.versions, by_version.adjust
        self.cache = {}
        self.terms = terms

    def of(self, period: BillingPeriod) -> tuple[PriceAgreement, list[Price]]:
        if "then" not in self.cache:
            self.cache["then"] = self.adjust(*terms_apply(self.agreement, self.prices, self.terms))
        return self.cache["then"]


def last_edited(agreement: PriceAgreement):
    """When the agreement, one of its prices or one of their tiers was last saved (its
    history), or None."""
    prices = Price.history.filter(agreement_id=agreement.pk)
    tiers = PriceTier.history.filter(price_id__in=prices.values("id"))
    dates = [
        rows.aggregate(last=Max("history_date"))["last"]
        for rows in (agreement.history.all(), prices, tiers)
    ]
    return max((d for d in dates if d is not None), default=None)


def terms_then(agreement: PriceAgreement, current: set[int], at) -> dict | None:
    """The agreement's terms as its history had them at `at` (terms_read's form), its
    prices being `current` (ids) now; None when the history does not hold them (rows
    saved before it was kept)."""
    try:
        then = agreement.history.as_of(at)
    except PriceAgreement.DoesNotExist:
        return None
    prices = list(Price.history.as_of(at).filter(agreement_id=agreement.pk).order_by("pk"))
    if {p.pk for p in prices} != current:  # a price added or removed since: not replayable
        return None
    tiers: dict[int, list] = {}
    rows = PriceTier.history.as_of(at).filter(price_id__in=current).order_by("from_quantity")
    for tier in rows:
        tiers.setdefault(tier.price_id, []).append(tier)
    if any(p.model in Price.TIERED and p.pk not in tiers for p in prices):
        return None  # tiers older than their history
    return terms_read(then, prices, tiers_of=lambda price: tiers.get(price.pk, []))


def invoice_terms(invoice, terms: TermsByVersion, edited=None) -> TermsByVersion:
    """The terms `invoice` was issued under: its agreement's versions' (`terms`); for one
    issued before the agreement had any version, whose agreement, prices or tiers were
    saved since (`edited`: last_edited's), those its history had then."""
    first = min((v.created_at for v in terms.versions), default=None)
    issued = invoice.issued_at
    if edited is None or edited <= issued or (first is not None and issued >= first):
        return terms
    then = terms_then(terms.agreement, {p.pk for p in terms.prices}, issued)
    return terms if then is None else TermsThen(terms, then)


def period_priced(period: BillingPeriod, terms: TermsByVersion):
    """(a copy of `period` whose agreement carries its version's terms, the prices that
    price it). In memory: the caller's period keeps its own agreement."""
    agreement, prices = terms.of(period)
    copied = copy.copy(period)
    copied._state = copy.copy(period._state)
    copied._state.fields_cache = {**period._state.fields_cache, "agreement": agreement}
    return copied, prices


def period_terms(period: BillingPeriod) -> tuple[PriceAgreement, list[Price]]:
    """The agreement and prices that price `period` (one lookup; see TermsByVersion)."""
    return TermsByVersion(period.agreement).of(period)
