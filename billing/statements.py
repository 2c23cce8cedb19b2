"""Customer outcome statements: a signed, expiring link per invoice (Django's signing),
so a customer sees the proof of value without an account."""

from django.conf import settings
from django.core import signing

SALT = "billing.statement"


def statement_token(invoice_id: int) -> str:
    return signing.TimestampSigner(salt=SALT).sign(str(invoice_id))


def statement_invoice_id(token: str) -> int:
    """The invoice id of a valid token; raises signing.SignatureExpired (too old) or
    signing.BadSignature (tampered)."""
    max_age = settings.STATEMENT_LINK_DAYS * 86400
    return int(signing.TimestampSigner(salt=SALT).unsign(token, max_age=max_age))
