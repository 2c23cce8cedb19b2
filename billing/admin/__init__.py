from billing.admin import agreements, invoices, margins, seller  # noqa: F401 - registers
