from billing.models.agreements import Price, PriceAgreement, PriceTier
from billing.models.balances import Budget, BudgetAlert, CustomerBalance
from billing.models.corrections import (
    CreditNote,
    CreditNoteLine,
    CreditNoteTax,
    Dispute,
    DisputedOutcome,
)
from billing.models.credits import CreditGrant, CreditLedgerEntry, RecurringGrant
from billing.models.documents import CreditNoteDocument, InvoiceDelivery, InvoiceDocument
from billing.models.fx import ExchangeRate
from billing.models.invoice_lines import InvoiceLine, InvoiceTax
from billing.models.invoices import BillingPeriod, Invoice, InvoiceCounter
from billing.models.margins import MarginAlert, MarginFigure
from billing.models.marks import BilledSignal
from billing.models.outcomes import OutcomeCriterion, OutcomeDefinition, data_lookup
from billing.models.payments import Payment
from billing.models.seller import SellerProfile, TaxRate
from billing.models.simulations import SavedSimulation
from billing.models.versions import AgreementVersion

__all__ = [
    "AgreementVersion",
    "BilledSignal",
    "BillingPeriod",
    "Budget",
    "BudgetAlert",
    "CreditGrant",
    "CreditLedgerEntry",
    "CreditNote",
    "CreditNoteDocument",
    "CreditNoteLine",
    "CreditNoteTax",
    "CustomerBalance",
    "Dispute",
    "DisputedOutcome",
    "ExchangeRate",
    "Invoice",
    "InvoiceCounter",
    "InvoiceDelivery",
    "InvoiceDocument",
    "InvoiceLine",
    "InvoiceTax",
    "MarginAlert",
    "MarginFigure",
    "OutcomeCriterion",
    "OutcomeDefinition",
    "Payment",
    "Price",
    "PriceAgreement",
    "PriceTier",
    "RecurringGrant",
    "SavedSimulation",
    "SellerProfile",
    "TaxRate",
    "data_lookup",
]
