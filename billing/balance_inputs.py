"""What a balance is computed from, read for many customers at once, so that beat can
tell a stored balance that is still exact from one to recompute without recomputing it
(balance_refresh.py). A balance (balances.py) reads:

- the customer's signals. They are never deleted, and never changed but to be attached
  to a customer, so their number tells whether one was added or attached since
  (`signals_count`: one count per customer, over the signal_customer_id_idx index);
- its own rows: the customer, its agreements with their prices, tiers, versions and
  periods (a close, a void), its grants and how many ledger entries they have (a
  drawdown, a reversal, a cancellation, an expiry), its disputes and their outcomes, its
  budget (which its alerts measure); and the rows every customer shares: outcome
  definitions, their criteria, tax rates. All of them, whatever changed them (the admin,
  the API, a bulk update), are hashed into one digest per customer (`inputs_digest`);
- the time: balances.balance_compute's `valid_until`.

Two kinds of price read rows beyond the customer's, and a customer with either (in any
agreement or version) has no digest and is always recomputed:
- cost-plus: its charge is what the outcomes cost, and traces attach costs to signals
  and workflows at any time, without the customer;
- a per-workflow outcome: a workflow counts once ever, whichever customer's outcome was
  billed first, so another customer's close changes what this one owes.

A change that is undone while a balance is being computed, leaving every row as it was,
goes unseen: the balance keeps the figures of the state in between until its next
change (the digest cannot tell; a version counter on every row could)."""

import hashlib
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Count, Max

from agents.models import Signal
from billing.models import (
    AgreementVersion,
    BillingPeriod,
    Budget,
    CreditGrant,
    CreditLedgerEntry,
    Dispute,
    DisputedOutcome,
    OutcomeCriterion,
    OutcomeDefinition,
    Price,
    PriceAgreement,
    PriceTier,
    TaxRate,
)
from billing.pricing import PricingModel
from customers.models import Customer


def _columns(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def signal_counts(customer_ids: Iterable[int]) -> dict[int, int]:
    """How many signals each customer has (0 if none)."""
    rows = (
        Signal.objects.filter(customer_id__in=list(customer_ids))
        .order_by()
        .values_list("customer_id")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def _shared() -> list:
    """The rows every customer's balance reads."""
    return [
        list(OutcomeDefinition.objects.order_by("pk").values_list(*_columns(OutcomeDefinition))),
        list(OutcomeCriterion.objects.order_by("pk").values_list(*_columns(OutcomeCriterion))),
        list(TaxRate.objects.order_by("pk").values_list(*_columns(TaxRate))),
    ]


def inputs_digests(customer_ids: Iterable[int]) -> dict[int, str]:
    """A digest of each customer's rows and the shared ones (see above), in 11 queries
    whatever the number of customers; "" for a customer always recomputed (above)."""
    ids = list(customer_ids)
    rows: dict[int, list] = defaultdict(list)

    def add(kind: str, queryset, customer: str, model) -> None:
        for row in queryset.order_by("pk").values_list(customer, *_columns(model)):
            rows[row[0]].append((kind, row[1:]))

    add("customer", Customer.objects.filter(pk__in=ids), "pk", Customer)
    add(
        "agreement",
        PriceAgreement.objects.filter(customer_id__in=ids),
        "customer_id",
        PriceAgreement,
    )
    by_agreement = "agreement__customer_id"
    add("price", Price.objects.filter(**{f"{by_agreement}__in": ids}), by_agreement, Price)
    by_price = "price__agreement__customer_id"
    add("tier", PriceTier.objects.filter(**{f"{by_price}__in": ids}), by_price, PriceTier)
    versions = AgreementVersion.objects.filter(**{f"{by_agreement}__in": ids})
    add("version", versions, by_agreement, AgreementVersion)
    add(
        "period",
        BillingPeriod.objects.filter(**{f"{by_agreement}__in": ids}),
        by_agreement,
        BillingPeriod,
    )
    add("grant", CreditGrant.objects.filter(customer_id__in=ids), "customer_id", CreditGrant)
    entries = (
        CreditLedgerEntry.objects.filter(grant__customer_id__in=ids)
        .order_by()
        .values_list("grant__customer_id")
        .annotate(n=Count("pk"), last=Max("pk"))
    )
    for customer_id, n, last in entries:
        rows[customer_id].append(("ledger", (n, last)))
    add("dispute", Dispute.objects.filter(customer_id__in=ids), "customer_id", Dispute)
    by_dispute = "dispute__customer_id"
    outcomes = DisputedOutcome.objects.filter(**{f"{by_dispute}__in": ids})
    add("disputed", outcomes, by_dispute, DisputedOutcome)
    add("budget", Budget.objects.filter(customer_id__in=ids), "customer_id", Budget)

    shared_rows = _shared()
    shared = repr(shared_rows).encode()
    at = _columns(OutcomeDefinition).index("per_workflow")
    per_workflow = {row[0] for row in shared_rows[0] if row[at]}
    recomputed = _always_recomputed(rows, per_workflow)
    digests = {}
    for customer_id in ids:
        if customer_id in recomputed:
            digests[customer_id] = ""
            continue
        digest = hashlib.blake2b(shared, digest_size=16)
        digest.update(repr(rows.get(customer_id, [])).encode())
        digests[customer_id] = digest.hexdigest()
    return digests


def _always_recomputed(rows: dict[int, list], per_workflow: set[int]) -> set[int]:
    """The customers with a cost-plus price, or a price of a per-workflow outcome, now
    or in a version."""
    price_at = {name: _columns(Price).index(name) for name in ("model", "outcome_definition_id")}
    terms_at = _columns(AgreementVersion).index("terms")

    def uncertain(kind: str, row: tuple) -> bool:
        if kind == "price":
            return (
                row[price_at["model"]] == PricingModel.COST_PLUS
                or row[price_at["outcome_definition_id"]] in per_workflow
            )
        if kind == "version":
            prices = (row[terms_at] or {}).get("prices", {})
            return any(
                price.get("model") == PricingModel.COST_PLUS or int(key) in per_workflow
                for key, price in prices.items()
            )
        return False

    return {
        customer_id
        for customer_id, customer_rows in rows.items()
        if any(uncertain(kind, row) for kind, row in customer_rows)
    }
