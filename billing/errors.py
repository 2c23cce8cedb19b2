"""Errors of billing that a person can fix; each message says what to do."""


class BillingError(Exception):
    """Something asked of billing that cannot be done as things are; the message says
    what to fix."""


class ClosingError(BillingError):
    """A period cannot be closed (or an invoice voided) as things are."""


class StateError(ClosingError):
    """A state change asked of a period or invoice that is not in the state it needs."""


class PaymentError(BillingError):
    """A payment that cannot be recorded against the invoice as given."""


class CreditNoteError(BillingError):
    """A credit note that cannot be issued as asked; the message starts with the field."""


class DisputeError(BillingError):
    """A dispute that cannot be opened, accepted or rejected as asked; the message starts
    with the field (reason, outcome, invoice, note, dispute)."""


class GrantError(BillingError):
    """A credit grant that cannot be created as asked: `problems` maps each field to
    what to fix; `conflict` when its reference names another grant's request."""

    def __init__(self, problems: dict[str, str], *, conflict: bool = False):
        self.problems = problems
        self.conflict = conflict
        super().__init__("; ".join(f"{field}: {text}" for field, text in problems.items()))
