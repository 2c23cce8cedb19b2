"""Errors of writes to the catalogue (customers, contacts, agents, agreements)."""


class ConflictError(Exception):
    """A write the stored data refuses as it stands: an id another object has, an object
    still in use. The API answers 409 with the message, under `field` when one is named."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
