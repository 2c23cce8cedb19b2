from billing.admin import agreements, disputes, invoices, margins, seller  # noqa: F401 - registers
