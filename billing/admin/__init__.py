from billing.admin import (  # noqa: F401 - registers
    agreements,
    credit_budgets,
    credit_grants,
    credit_ledger,
    disputes,
    invoices,
    margins,
    outcome_definitions,
    seller,
)
