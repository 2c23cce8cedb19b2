from billing.admin import agreements, invoices, margins  # noqa: F401 - registers
