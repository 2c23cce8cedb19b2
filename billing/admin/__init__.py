from billing.admin import (  # noqa: F401 - registers
    agreements,
    credit_budgets,
    credit_grants,
    disputes,
    invoices,
    margins,
    seller,
)
