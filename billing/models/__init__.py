from billing.models.agreements import Price, PriceAgreement, PriceTier
from billing.models.fx import ExchangeRate
from billing.models.invoices import (
    BilledSignal,
    BillingPeriod,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
)
from billing.models.margins import MarginAlert, MarginFigure, WebhookDelivery
from billing.models.outcomes import OutcomeCriterion, OutcomeDefinition, data_lookup

__all__ = [
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
]
