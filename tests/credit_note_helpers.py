"""Credit notes for tests: one of the multi-rate invoice's outcome line (hand-computed)."""

from decimal import Decimal as D

from billing.credit_notes import CreditRequest, credit_note_issue
from tests.mail_helpers import multi_rate_invoice


def credited_outcome_line():
    """The multi-rate invoice (net 204.10, tax 10.82, total 214.92) with a credit note of
    2.74 net on its outcome line (2 x 1.37) at VAT 20%: 2.74 x 0.20 = 0.548 -> 0.55 tax,
    total 3.29 credited; 211.63 left due."""
    w, invoice = multi_rate_invoice()
    outcome = invoice.lines.order_by("position").first()
    note = credit_note_issue(
        invoice_id=invoice.pk,
        reason="Two documents were processed twice",
        lines=[CreditRequest(outcome.pk, D("2.74"))],
    )
    invoice.refresh_from_db()
    return w, invoice, note
