"""A Paid order, as its request is declared (once: the validator and the OpenAPI schema
come from these serializers). paid_order_terms.py reads a valid one as agreement terms.

Money is in the currency's minor unit, as Paid sends it (unitPrice 150 = 1.50 USD).
"""

from rest_framework import serializers

from agents.api.paid_fields import (
    CurrencyCode,
    Flag,
    Metadata,
    Number,
    StrictSerializer,
    Text,
    WholeNumber,
    optional,
)

FREQUENCIES = ["monthly", "quarterly", "semiAnnually", "annual", "custom"]
USAGE_MODELS = ["perUnit", "graduatedPricing", "volumePricing"]
PRICING_MODELS = [*USAGE_MODELS, "prepaidCredits", "bracketedPrepaidCredits", "flat"]
MAX_MINOR = 10**15  # unit prices in minor units; what is stored stays below 10^12


class TierIn(StrictSerializer):
    lowerBound = optional(WholeNumber, min_value=0, help_text="Default: the last upperBound.")
    upperBound = optional(WholeNumber, min_value=0, help_text="null: no end (the last tier).")
    unitAmount = optional(
        WholeNumber,
        min_value=0,
        max_value=MAX_MINOR,
        help_text="Minor units (cents) per outcome in this tier.",
    )
    flatAmount = optional(WholeNumber, help_text="Not kept here: 422 unless 0.")
    tierBillingType = optional(serializers.ChoiceField, choices=["flat", "perUnit"])
    number = optional(WholeNumber, help_text="Read as the order the tiers are sent in.")
    index = optional(Number, help_text="Read as the order the tiers are sent in.")


class PricePointsIn(StrictSerializer):
    currency = optional(CurrencyCode, help_text="The order's currency, or left out.")
    unitPrice = WholeNumber(
        min_value=0,
        max_value=MAX_MINOR,
        help_text="Minor units (cents); 0 (or the first tier's) when tiered.",
    )
    minQuantity = optional(WholeNumber, min_value=0, help_text="Not kept here: 422 unless 0.")
    includedQuantity = optional(
        WholeNumber, min_value=0, max_value=10**12, help_text="Free outcomes per period."
    )
    tiers = optional(TierIn, many=True, max_length=100)


class PricingIn(StrictSerializer):
    eventName = optional(Text, max_length=200, help_text="The outcome definition's event.")
    chargeType = serializers.ChoiceField(choices=["usage", "recurring", "oneTime", "seatBased"])
    pricePoints = PricePointsIn()
    pricingModel = serializers.ChoiceField(choices=PRICING_MODELS)
    billingFrequency = optional(serializers.ChoiceField, choices=FREQUENCIES)
    billingFrequencyCustomMonths = optional(WholeNumber)
    billingType = optional(serializers.ChoiceField, choices=["advance", "arrears"])
    signalType = optional(serializers.ChoiceField, choices=["activity", "outcome"])
    creditsCurrencyId = optional(Text, max_length=200)
    creditCost = optional(Number)
    overageUnitPrice = optional(WholeNumber)
    creditRolloverAmount = optional(Number)
    creditBenefits = optional(serializers.ListField, child=serializers.DictField(), max_length=100)
    pricingInput = optional(serializers.DictField)
    creditUnitBrackets = optional(
        serializers.ListField, child=serializers.DictField(), max_length=100
    )


class AttributeIn(StrictSerializer):
    name = Text(max_length=200, help_text="Picks the outcome definition by name if needed.")
    quantity = optional(WholeNumber, min_value=0)
    pricing = PricingIn()


class OrderLineIn(StrictSerializer):
    productId = Text(max_length=20, help_text="The agent's id (not its external id).")
    name = optional(Text, max_length=200)
    description = optional(Text, single_line=False, max_length=10_000)
    startDate = optional(serializers.DateTimeField, help_text="The order's, or left out.")
    endDate = optional(serializers.DateTimeField, help_text="The order's, or left out.")
    attributes = optional(AttributeIn, many=True, max_length=100)
    lineType = optional(serializers.ChoiceField, choices=["STANDARD", "CREDIT"])


class FrequencyOverrideIn(StrictSerializer):
    frequency = serializers.ChoiceField(choices=FREQUENCIES)
    customMonths = optional(WholeNumber)


class OrderIn(StrictSerializer):
    customerId = Text(max_length=20, help_text="The customer's id (not its external id).")
    billingCustomerId = optional(Text, max_length=20)
    billingContactIds = optional(serializers.ListField, child=Text(max_length=20), max_length=100)
    name = optional(Text, max_length=200, help_text="Default: the customer's name and start.")
    startDate = optional(serializers.DateTimeField, help_text="Midnight UTC; default: today.")
    endDate = optional(serializers.DateTimeField, help_text="Midnight UTC, when it ends.")
    subscriptionTerms = optional(WholeNumber)
    creationState = optional(serializers.ChoiceField, choices=["draft", "active"])
    billingAnchor = optional(WholeNumber, min_value=1, max_value=31)
    paymentTerms = optional(Text, max_length=50, help_text='"net 30", "30"; default 30 days.')
    externalId = optional(Text, max_length=200)
    metadata = optional(Metadata)
    currency = optional(CurrencyCode, help_text="Default: the customer's currency.")
    autoPostInvoices = optional(Flag)
    autoSendBillingEmails = optional(Flag)
    autoSendPaymentEmails = optional(Flag)
    lines = optional(OrderLineIn, many=True, max_length=100)
    billingFrequencyOverride = optional(FrequencyOverrideIn)
    purchaseOrderReference = optional(Text, max_length=200)
