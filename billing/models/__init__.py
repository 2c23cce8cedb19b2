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
from billing.models.margins import MarginAlert, MarginFigure, WebhookDelivery

__all__ = [
    "MONEY",
    "BilledSignal",
    "BillingPeriod",
    "ExchangeRate",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "MarginAlert",
    "MarginFigure",
    "OutcomeCriterion",
    "OutcomeDefinition",
    "Price",
    "PriceAgreement",
    "PriceTier",
    "WebhookDelivery",
    "data_lookup",
    "tier_problems",
]
