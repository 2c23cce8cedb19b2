from billing.models.agreements import (
    MONEY,
    ExchangeRate,
    OutcomeCriterion,
    OutcomeDefinition,
    Price,
    PriceAgreement,
    PriceTier,
    data_lookup,
    tier_problems,
)
from billing.models.invoices import (
    BilledSignal,
    BillingPeriod,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
)

__all__ = [
    "MONEY",
    "BilledSignal",
    "BillingPeriod",
    "ExchangeRate",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "OutcomeCriterion",
    "OutcomeDefinition",
    "Price",
    "PriceAgreement",
    "PriceTier",
    "data_lookup",
    "tier_problems",
]
