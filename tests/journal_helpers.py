"""Documents for the accounting export's tests, with hand-computed figures."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal as D

from billing.credit_notes import CreditRequest, credit_note_issue
from billing.journal import JOURNAL_COLUMNS, journal_rows
from billing.models import Invoice
from billing.receivables import payment_record
from billing.services import period_close
from tests import factories as f
from tests.billing_helpers import JAN, World

ISSUED = datetime(2026, 2, 1, 9, tzinfo=UTC)
CREDITED = datetime(2026, 2, 15, 16, tzinfo=UTC)


def journal_csv(first: date, last: date) -> str:
    """The export as the command and the admin write it (header and CRLF rows)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=JOURNAL_COLUMNS, restval="")
    writer.writeheader()
    writer.writerows(journal_rows(first=first, last=last))
    return out.getvalue()


def journal_dicts(first: date, last: date) -> list[dict]:
    return list(csv.DictReader(io.StringIO(journal_csv(first, last))))


def two_outcomes_invoice(external_id: str = "cus_acme"):
    """USD, issued 2026-02-01 09:00 UTC for January; customer "Acme Ltd" (cus_acme).
      Documents (account 4010, its own code), 3 x 1.37 = 4.11 at VAT 20%
      Tickets   (no code: 4000),               2 x 0.50 = 1.00 at 5.5%
      platform fee (4100),                         99.00 at 5.5%
      net 104.11; VAT 20%: 4.11 x 0.20 = 0.822 -> 0.82;
      5.5% on 1.00 + 99.00 = 100.00: 5.50 exactly; tax 6.32, total 110.43.
    The 5.5% tax (550 cents) split by net 1.00 : 99.00 is 5.5 : 544.5 cents; rounded
    down 5 + 544 = 549, the cent left goes to the largest fraction, a tie (0.5 each):
    the first row, Tickets -> 0.06, fee 5.44. (Rounding each row on its own would give
    0.06 + 5.45 = 5.51, a cent more than the invoice charged.)"""
    vat = f.TaxRateFactory(name="VAT 20%", percent=D(20))
    reduced = f.TaxRateFactory(name="Reduced 5.5%", percent=D("5.5"))
    w = World(
        unit_price=D("1.37"),
        tax_rate=vat,
        agreement_kwargs={"platform_fee": D("99.00"), "tax_rate": reduced},
    )
    w.customer.name, w.customer.external_id = "Acme Ltd", external_id
    w.customer.save()
    w.outcome.name, w.outcome.account_code = "Documents", "4010"
    w.outcome.save()
    tickets = f.OutcomeDefinitionFactory(agent=w.agent, name="Tickets", event_name="ticket")
    f.OutcomeCriterionFactory(definition=tickets, field_path="status", value="ok")
    f.PriceFactory(agreement=w.agreement, outcome_definition=tickets, unit_price=D("0.50"))
    w.signals(3)
    for _ in range(2):
        f.SignalFactory(
            agent=w.agent,
            customer=w.customer,
            event_name="ticket",
            occurred_at=JAN,
            data={"status": "ok"},
        )
    invoice = period_close(period_id=w.period().pk, now=ISSUED)
    return w, invoice


def pay(invoice: Invoice, amount: str, on: date, reference: str = ""):
    payment, _ = payment_record(
        invoice_id=invoice.pk,
        amount=D(amount),
        currency=invoice.currency,
        received_on=on,
        reference=reference,
    )
    return payment


def credit_line(invoice: Invoice, description_start: str, amount: str, *, at=CREDITED):
    line = invoice.lines.get(description__startswith=description_start)
    return credit_note_issue(
        invoice_id=invoice.pk,
        reason="Documents not processed",
        lines=[CreditRequest(line.pk, D(amount))],
        now=at,
    )
