"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the delivery tests, and the invoices
they send: a multi-rate invoice whose figures are computed by hand."""

import email
import io
import socket
from contextlib import contextmanager
from decimal import Decimal as D
from email import policy

from aiosmtpd.controller import Controller
from pypdf import PdfReader

from billing.services import period_close
from tests import factories as f
from tests.billing_helpers import World

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """What the server received; `refuse` (e.g. "451 4.3.0 Try again later") answers
    every message's DATA with that instead of accepting it."""

    def __init__(self, refuse: str | None = None):
        self.refuse = refuse
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        self.envelopes.append(envelope)
        return "250 OK"

    @property
    def messages(self):
        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]


@contextmanager
def smtp_server(settings, refuse: str | None = None):
    """Start the server and point Django's SMTP backend at it."""
    inbox = Inbox(refuse)
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    try:
        yield inbox
    finally:
        controller.stop()


def pdf_text(content: bytes) -> str:
    """The PDF's text with whitespace collapsed (a cell may wrap)."""
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return " ".join(text.split())


def multi_rate_invoice():
    """USD; 3 outcomes at 1.37 with VAT 20% and a platform fee of 199.99 at 5%; two
    billing addresses (the primary and a billing contact) and one contact who is not.
      outcome line  3 x 1.37 = 4.11   VAT 20%: 4.11 x 0.20 = 0.822 -> 0.82
      platform fee       199.99       reduced 5%: 199.99 x 0.05 = 9.9995 -> 10.00
      net 204.10, tax 10.82, total 214.92"""
    vat = f.TaxRateFactory(name="VAT 20%", percent=D(20))
    reduced = f.TaxRateFactory(name="Reduced 5%", percent=D(5))
    w = World(
        unit_price=D("1.37"),
        tax_rate=vat,
        agreement_kwargs={"platform_fee": D("199.99"), "tax_rate": reduced},
    )
    w.customer.legal_name = "Acme Buyer GmbH"
    w.customer.address_line1 = "Hauptstrasse 5"
    w.customer.address_city = "Berlin"
    w.customer.address_postal_code = "10115"
    w.customer.address_country = "DE"
    w.customer.vat_number = "DE136695976"
    w.customer.save()
    f.ContactFactory(customer=w.customer, email="ap@acme.example", billing=True)
    f.ContactFactory(customer=w.customer, email="cto@acme.example", billing=False)
    w.signals(3)
    invoice = period_close(period_id=w.period().pk)
    return w, invoice
