"""A Paid order's PUT read as changes of its price agreement, through the create path's
parsing (paid_order_terms.order_terms): the stored order fills in what was not sent, so
every check and 422 of create applies, and only what was sent changes.

Paid's SDK sends name, dates, payment terms and the rest of OrderIn without lines; a body
may also send `lines` (and billingFrequencyOverride), which replace the prices while
nothing was billed under the agreement (billing.agreement_changes keeps that rule).
"""

from datetime import timedelta

from agents.api.field_checks import Collector
from agents.api.paid_v2 import refuse
from billing.api.paid_order_terms import order_terms
from billing.models import PriceAgreement
from billing.periods import midnight

PRICING_FIELDS = ("lines", "billingFrequencyOverride")


def order_changes(sent: dict, agreement: PriceAgreement, *, today) -> dict:
    """agreement_update's keyword arguments for a validated partial OrderIn; 422 naming
    what an order cannot change here (its customer, its currency)."""
    refused = Collector()
    if sent.get("customerId") not in (None, "", str(agreement.customer_id)):
        refused.add("customerId", "An order's customer does not change: create a new order.")
    if sent.get("currency") not in (None, "", agreement.currency):
        refused.add("currency", "An order's currency does not change: create a new order.")
    refuse(refused.errors)
    stop = midnight(agreement.ends_on + timedelta(days=1)) if agreement.ends_on else None
    merged = {
        "startDate": midnight(agreement.starts_on),
        "endDate": stop,
        **{name: value for name, value in sent.items() if value is not None or name == "endDate"},
        "customerId": str(agreement.customer_id),
        "currency": agreement.currency,
    }
    terms = order_terms(merged, today=today)
    changes = {}
    if sent.get("name"):
        changes["name"] = terms.name
    if "endDate" in sent:
        changes["ends_on"] = terms.ends_on
    if sent.get("startDate"):
        changes["starts_on"] = terms.starts_on
    if sent.get("paymentTerms"):
        changes["payment_terms_days"] = terms.payment_terms_days
    if any(sent.get(name) is not None for name in PRICING_FIELDS):
        changes["cadence"] = terms.cadence
    if sent.get("lines") is not None:
        changes["prices"] = terms.prices
        changes["platform_fee"] = terms.platform_fee
    return changes
