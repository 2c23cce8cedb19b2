"""Errors of billing that a person can fix; each message says what to do."""


class ClosingError(Exception):
    """A period cannot be closed (or an invoice voided) as things are; the message says
    what to fix."""


class StateError(ClosingError):
    """A state change asked of a period or invoice that is not in the state it needs."""
