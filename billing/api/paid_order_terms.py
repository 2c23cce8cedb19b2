"""A Paid order as a price agreement: a valid OrderIn (paid_order_requests.py) read as
agreement terms, refusing by name (422) what we cannot represent.

What maps:
- the order: customerId (our id) -> customer; name; startDate / endDate (whole UTC days;
  endDate is the instant the order ends, so the agreement's last day is the day before);
  currency (default: the customer's); paymentTerms "net 30" -> 30 days;
  billingFrequencyOverride.frequency, or the lines' billingFrequency -> cadence (monthly,
  quarterly, annual).
- a line is one product (productId: our agent id); each of its attributes is a price:
  chargeType "usage" prices the agent's outcome definition completed by
  pricing.eventName (the attribute's name picks one when several share the event) with
  pricingModel perUnit (unitPrice), graduatedPricing or volumePricing (tiers);
  pricePoints.includedQuantity -> free outcomes per period. chargeType "recurring" with
  pricingModel "flat" is the agreement's platform fee (one per order).
- money is in the currency's minor unit, as Paid sends it (unitPrice 150 = 1.50 USD).
Everything else Paid can say (drafts, seats, one-time fees, credits, billing in advance,
semi-annual or custom frequencies, external ids, metadata, contacts, purchase orders,
signal-type activity, flat tier amounts) is refused with 422, naming the field.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from rest_framework import exceptions

from agents.api.field_checks import Collector
from agents.api.paid_v2 import refuse
from agents.models import Agent
from billing.agreements import PriceTerms
from billing.models import PriceAgreement, SellerProfile
from billing.money import ZERO
from billing.pricing import PricingModel, tier_problems
from customers.currencies import minor_unit
from customers.models import Customer

CADENCES = {
    "monthly": PriceAgreement.Cadence.MONTHLY,
    "quarterly": PriceAgreement.Cadence.QUARTERLY,
    "annual": PriceAgreement.Cadence.ANNUAL,
}
USAGE_MODELS = {
    "perUnit": PricingModel.PER_OUTCOME,
    "graduatedPricing": PricingModel.GRADUATED,
    "volumePricing": PricingModel.VOLUME,
}
MAX_AMOUNT = Decimal(10**12)
CREDITS = (
    "creditsCurrencyId",
    "creditCost",
    "overageUnitPrice",
    "creditRolloverAmount",
    "creditBenefits",
    "pricingInput",
    "creditUnitBrackets",
)
PAYMENT_TERMS = re.compile(r"^\s*(?:net\s*)?(\d{1,5})(?:\s*days?)?\s*$", re.IGNORECASE)


def payment_terms_text(days: int) -> str:
    return f"net {days}"


@dataclass
class OrderTerms:
    """What agreement_create needs, read from a valid order."""

    customer: Customer
    name: str
    currency: str
    starts_on: date
    ends_on: date | None
    cadence: str
    platform_fee: Decimal = ZERO
    payment_terms_days: int = 30
    prices: list[PriceTerms] = field(default_factory=list)


def _by_id(model, raw: str | None):
    if raw and raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return model.objects.filter(pk=int(raw)).first()
    return None


def _references(data: dict) -> tuple[Customer, dict[int, Agent]]:
    """The customer and agents the order names, or a 400 naming each unknown one."""
    unknown = Collector()
    customer = _by_id(Customer, data["customerId"])
    if customer is None:
        unknown.add(
            "customerId",
            f"No customer with id {data['customerId']!r} (our id, not the external id).",
        )
    agents = {}
    for i, line in enumerate(data.get("lines") or []):
        agent = _by_id(Agent, line["productId"])
        if agent is None:
            unknown.add(
                f"lines[{i}].productId",
                f"No product with id {line['productId']!r} (our agent id, not the external id).",
            )
        else:
            agents[i] = agent
    if unknown.errors:
        raise exceptions.ValidationError(unknown.errors)
    return customer, agents


def _day(moment: datetime, name: str, refused: Collector) -> date | None:
    """The UTC day an instant starts, if it is a midnight within the accepted years."""
    utc = moment.astimezone(UTC)
    if utc.time() != time.min:
        refused.add(name, "Agreements start and end on whole days: give a midnight UTC.")
        return None
    earliest = settings.SIGNALS_EARLIEST_DATE
    if not earliest <= utc.date() < date(9999, 1, 1):
        refused.add(name, f"Give a day from {earliest} to 9998-12-31.")
        return None
    return utc.date()


def _refuse_set(values: dict, names, refused: Collector, where: str, why: str) -> None:
    for name in names:
        value = values.get(name)
        if value not in (None, "", [], {}):
            refused.add(f"{where}{name}", why)


def _money(minor_units: int, currency: str, name: str, refused: Collector) -> Decimal:
    amount = Decimal(minor_units).scaleb(-minor_unit(currency))
    if amount >= MAX_AMOUNT:
        refused.add(name, "Must be below 10^12 in the currency's major unit.")
    return amount


def order_terms(data: dict, *, today: date) -> OrderTerms:
    """A validated OrderIn as agreement terms; 400 for unknown references, 422 naming
    every field we cannot represent (all of them at once)."""
    customer, agents = _references(data)
    refused = Collector()
    _order_refusals(data, customer, refused)
    starts_on = _day(data["startDate"], "startDate", refused) if data.get("startDate") else today
    ends_on = None
    if data.get("endDate"):
        end = _day(data["endDate"], "endDate", refused)
        if end is not None and starts_on is not None and end <= starts_on:
            refused.add("endDate", "Must be after startDate.")
        ends_on = end - timedelta(days=1) if end else None
    anchor = data.get("billingAnchor")
    if anchor is not None and starts_on is not None and anchor != starts_on.day:
        refused.add("billingAnchor", "Periods here start on the start date's day: leave it out.")
    currency = data.get("currency") or customer.currency
    terms = OrderTerms(
        customer=customer,
        name=data.get("name") or f"{customer.name} from {starts_on or today}",
        currency=currency,
        starts_on=starts_on,
        ends_on=ends_on,
        cadence=_cadence(data, refused),
        payment_terms_days=_payment_terms(data.get("paymentTerms"), refused),
    )
    for i, line in enumerate(data.get("lines") or []):
        _line(line, agents[i], f"lines[{i}].", data, terms, refused)
    refuse(refused.errors)
    return terms


def _order_refusals(data: dict, customer: Customer, refused: Collector) -> None:
    billing_customer = data.get("billingCustomerId")
    if billing_customer and billing_customer != str(customer.pk):
        refused.add("billingCustomerId", "The order's customer is the one invoiced here.")
    _refuse_set(data, ["billingContactIds"], refused, "", "Orders here keep no contacts.")
    _refuse_set(data, ["subscriptionTerms"], refused, "", "Agreements here run until endDate.")
    _refuse_set(data, ["externalId"], refused, "", "Orders here have no external id.")
    _refuse_set(data, ["metadata"], refused, "", "Orders here keep no metadata.")
    _refuse_set(data, ["purchaseOrderReference"], refused, "", "Invoices here print none.")
    if data.get("creationState") == "draft":
        refused.add("creationState", "Orders here are never drafts: they bill from startDate.")
    if data.get("autoPostInvoices") is False:
        refused.add("autoPostInvoices", "Invoices are always issued when a period closes.")
    for name in ("autoSendBillingEmails", "autoSendPaymentEmails"):
        if data.get(name):
            refused.add(name, "E-mails are not sent from here.")


def _cadence(data: dict, refused: Collector) -> str:
    override = data.get("billingFrequencyOverride")
    if override:
        _refuse_set(
            override,
            ["customMonths"],
            refused,
            "billingFrequencyOverride.",
            "Custom billing months are not kept here.",
        )
        if override["frequency"] not in CADENCES:
            refused.add(
                "billingFrequencyOverride.frequency",
                "Agreements here bill monthly, quarterly or annually.",
            )
            return PriceAgreement.Cadence.MONTHLY
        return CADENCES[override["frequency"]]
    frequencies = {
        attribute["pricing"].get("billingFrequency")
        for line in data.get("lines") or []
        for attribute in line.get("attributes") or []
    } - {None}
    if len(frequencies) > 1:
        refused.add("lines", "Every line of an order here is billed at one frequency.")
    frequency = next(iter(frequencies), "monthly")
    return CADENCES.get(frequency, PriceAgreement.Cadence.MONTHLY)


def _payment_terms(text: str | None, refused: Collector) -> int:
    if not text:  # the seller's default terms
        return SellerProfile.current().payment_terms_days
    match = PAYMENT_TERMS.match(text)
    if match is None or int(match.group(1)) > 32767:
        refused.add("paymentTerms", 'Give the days to pay, as "net 30" or "30".')
        return 30
    return int(match.group(1))


def _line(line, agent, where, order, terms: OrderTerms, refused: Collector) -> None:
    _refuse_set(
        line,
        ["name", "description"],
        refused,
        where,
        "Lines here are named by their outcome definitions; leave it out.",
    )
    for name in ("startDate", "endDate"):
        if line.get(name) is not None and line[name] != order.get(name):
            refused.add(where + name, "Every line runs for the whole order: leave it out.")
    if line.get("lineType") == "CREDIT":
        refused.add(where + "lineType", "Credit lines are not kept here.")
    if not line.get("attributes"):
        refused.add(
            where + "attributes",
            "Give the prices: products here carry none of their own.",
        )
        return
    for j, attribute in enumerate(line["attributes"]):
        _attribute(attribute, agent, f"{where}attributes[{j}].", terms, refused)


def _attribute(attribute, agent, where, terms: OrderTerms, refused: Collector) -> None:
    pricing, at = attribute["pricing"], f"{where}pricing."
    points = pricing["pricePoints"]
    if pricing.get("billingFrequency") not in (None, *CADENCES):
        refused.add(at + "billingFrequency", "Agreements here bill monthly, quarterly or annually.")
    _refuse_set(pricing, ["billingFrequencyCustomMonths"], refused, at, "No custom frequencies.")
    _refuse_set(pricing, CREDITS, refused, at, "Credits are not kept here.")
    if pricing.get("billingType") == "advance":
        refused.add(at + "billingType", "Periods here are billed in arrears, when they close.")
    if pricing.get("signalType") == "activity":
        refused.add(
            at + "signalType",
            "Prices here are per outcome: each signal is judged by its outcome definition.",
        )
    if points.get("currency") not in (None, "", terms.currency):
        refused.add(at + "pricePoints.currency", f"The order's currency is {terms.currency}.")
    _refuse_set(points, ["minQuantity"], refused, at + "pricePoints.", "No minimum quantities.")
    charge, model = pricing["chargeType"], pricing["pricingModel"]
    if charge == "recurring" and model == "flat":
        _platform_fee(attribute, pricing, at, terms, refused)
    elif charge == "usage" and model in USAGE_MODELS:
        _price(attribute, agent, pricing, at, terms, refused)
    elif charge == "usage":
        refused.add(
            at + "pricingModel",
            "Usage is priced perUnit, graduatedPricing or volumePricing here (a fee per "
            "period is chargeType recurring with pricingModel flat).",
        )
    else:
        refused.add(
            at + "chargeType",
            f"{charge} {model} is not kept here: outcomes are priced (usage) and an "
            "agreement has one fee per period (recurring, flat).",
        )


def _platform_fee(attribute, pricing, at, terms: OrderTerms, refused: Collector) -> None:
    points = pricing["pricePoints"]
    if attribute.get("quantity") not in (None, 1):
        refused.add(at.removesuffix("pricing.") + "quantity", "A fee is charged once a period.")
    _refuse_set(
        points, ["tiers", "includedQuantity"], refused, at + "pricePoints.", "A fee has none."
    )
    _refuse_set(pricing, ["eventName"], refused, at, "A fee per period is not metered.")
    if terms.platform_fee:
        refused.add(at + "chargeType", "An agreement here has one fee per period.")
        return
    terms.platform_fee = _money(
        points["unitPrice"], terms.currency, at + "pricePoints.unitPrice", refused
    )


def _price(attribute, agent, pricing, at, terms: OrderTerms, refused: Collector) -> None:
    where = at.removesuffix("pricing.")
    _refuse_set(attribute, ["quantity"], refused, where, "Outcomes are counted from signals.")
    definition = _outcome(agent, attribute["name"], pricing.get("eventName"), where, at, refused)
    points = pricing["pricePoints"]
    model = USAGE_MODELS[pricing["pricingModel"]]
    unit_price, tiers = None, ()
    if model == PricingModel.PER_OUTCOME:
        _refuse_set(points, ["tiers"], refused, at + "pricePoints.", "perUnit has no tiers.")
        unit_price = _money(
            points["unitPrice"], terms.currency, at + "pricePoints.unitPrice", refused
        )
    else:
        tiers = _tiers(points, terms.currency, at + "pricePoints.", refused)
    if definition is None:
        return
    if any(p.outcome_definition == definition for p in terms.prices):
        refused.add(where + "name", f"“{definition.name}” is priced twice in this order.")
        return
    terms.prices.append(
        PriceTerms(
            outcome_definition=definition,
            model=model,
            unit_price=unit_price,
            included_quantity=Decimal(points.get("includedQuantity") or 0),
            tiers=tiers,
        )
    )


def _outcome(agent, name, event, where, at, refused: Collector):
    """The agent's outcome definition an attribute prices: by event (its name picks one
    when several share it), else by name."""
    definitions = list(agent.outcomes.all())
    if event:
        found = [d for d in definitions if d.event_name == event]
        if len(found) > 1:
            found = [d for d in found if d.name == name]
        if len(found) == 1:
            return found[0]
        refused.add(
            at + "eventName",
            f"Agent {agent.external_id!r} has no single outcome definition completed by "
            f"{event!r} (named {name!r}): define it in the admin first.",
        )
        return None
    found = [d for d in definitions if d.name == name]
    if found:
        return found[0]
    refused.add(
        where + "name",
        f"Agent {agent.external_id!r} has no outcome definition named {name!r}; name one, "
        "or give pricing.eventName.",
    )
    return None


def _tiers(points, currency, at, refused: Collector) -> tuple:
    sent = points.get("tiers") or []
    if not sent:
        refused.add(at + "tiers", "Graduated and volume prices need tiers.")
        return ()
    rows, last_end, complete = [], 0, True
    for i, tier in enumerate(sent):
        here = f"{at}tiers[{i}]."
        if tier.get("flatAmount"):
            refused.add(here + "flatAmount", "Tiers here have unit prices only.")
        if tier.get("tierBillingType") == "flat":
            refused.add(here + "tierBillingType", "Tiers here are billed per unit.")
        if tier.get("unitAmount") is None:
            refused.add(here + "unitAmount", "Give the tier's price per outcome.")
            complete = False
        start = tier.get("lowerBound")
        start = last_end if start is None else start
        end = tier.get("upperBound")
        unit = _money(tier.get("unitAmount") or 0, currency, here + "unitAmount", refused)
        rows.append((Decimal(start), None if end is None else Decimal(end), unit))
        last_end = end if end is not None else start
    names = {
        "from_quantity": "lowerBound",
        "up_to_quantity": "upperBound",
        "unit_price": "unitAmount",
    }
    for index, ours, message in tier_problems(rows) if complete else ():
        refused.add(f"{at}tiers[{index}].{names[ours]}", message)
    first = sent[0].get("unitAmount")
    if points["unitPrice"] not in (0, first):
        refused.add(at + "unitPrice", "Tiered prices take theirs from the tiers: send 0.")
    return tuple(rows)
