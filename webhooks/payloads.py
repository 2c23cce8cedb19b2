"""The `data` of each event type, read from billing's rows when the event is recorded.

Amounts are strings at the currency's minor unit ("104.10", JPY "38323"): exact, never a
float. Times are ISO 8601 in UTC. The statement URL is never included: it is a bearer
link, and a webhook receiver is not the customer.
"""

from decimal import Decimal

from billing.alerts import alert_payload, budget_alert_payload
from billing.models import BillingPeriod, BudgetAlert, CreditNote, Dispute, Invoice, MarginAlert
from billing.money import round_line


def amount(value: Decimal | None, currency: str) -> str | None:
    """An amount as a string at the currency's minor unit: Decimal("104.1") -> "104.10"."""
    return None if value is None else str(round_line(value, currency))


def _time(value) -> str | None:
    return None if value is None else value.isoformat()


def invoice_data(invoice_id: int) -> dict:
    invoice = Invoice.objects.select_related("customer", "period", "replaces").get(pk=invoice_id)
    currency = invoice.currency
    return {
        "object": "invoice",
        "number": invoice.number,
        "customer": invoice.customer.external_id,
        "currency": currency,
        "status": invoice.status,
        "net": amount(invoice.net, currency),
        "tax": amount(invoice.tax, currency),
        "total": amount(invoice.total, currency),
        "amount_paid": amount(invoice.amount_paid, currency),
        "amount_credited": amount(invoice.amount_credited, currency),
        "amount_due": amount(invoice.amount_due, currency),
        "issued_at": _time(invoice.issued_at),
        "due_at": _time(invoice.due_at),
        "paid_at": _time(invoice.paid_at),
        "voided_at": _time(invoice.voided_at),
        "kind": invoice.kind,
        # null for a top-up invoice: it bills no period.
        "period_start": _time(invoice.period.starts_at) if invoice.period else None,
        "period_end": _time(invoice.period.ends_at) if invoice.period else None,
        "replaces": invoice.replaces.number if invoice.replaces else None,
    }


def period_data(period_id: int) -> dict:
    period = BillingPeriod.objects.select_related("agreement__customer").get(pk=period_id)
    invoice = period.invoices.filter(status__in=Invoice.Status.live()).order_by("-pk").first()
    return {
        "object": "period",
        "agreement_id": period.agreement_id,
        "agreement": period.agreement.name,
        "customer": period.agreement.customer.external_id,
        "period_start": _time(period.starts_at),
        "period_end": _time(period.ends_at),
        "closed_at": _time(period.closed_at),
        "invoice": invoice.number if invoice else None,
    }


def credit_note_data(credit_note_id: int) -> dict:
    note = CreditNote.objects.select_related("invoice", "customer").get(pk=credit_note_id)
    currency = note.currency
    return {
        "object": "credit_note",
        "number": note.number,
        "invoice": note.invoice.number,
        "customer": note.customer.external_id,
        "currency": currency,
        "issued_at": _time(note.issued_at),
        "reason": note.reason,
        "net": amount(note.net, currency),
        "tax": amount(note.tax, currency),
        "total": amount(note.total, currency),
    }


def dispute_data(dispute_id: int) -> dict:
    dispute = Dispute.objects.select_related("customer", "invoice", "credit_note").get(
        pk=dispute_id
    )
    currency = dispute.invoice.currency if dispute.invoice else dispute.customer.currency
    return {
        "object": "dispute",
        "id": dispute.pk,
        "customer": dispute.customer.external_id,
        "invoice": dispute.invoice.number if dispute.invoice else None,
        "state": dispute.state,
        "source": dispute.source,
        "reason": dispute.reason,
        "opened_at": _time(dispute.opened_at),
        "resolved_at": _time(dispute.resolved_at),
        "credit_note": dispute.credit_note.number if dispute.credit_note else None,
        "currency": currency,
        "outcomes": [
            {
                "signal_id": outcome.signal_id,
                "idempotency_key": outcome.signal.idempotency_key,
                "credited": amount(outcome.credited, currency),
            }
            for outcome in dispute.outcomes.select_related("signal").order_by("signal_id")
        ],
    }


def dispute_opened_data(dispute_id: int) -> dict:
    """The dispute as it was opened: recorded after commit, it may be resolved already
    (accepted at once, up to the agreement's auto-accept limit), which is
    `dispute.resolved`'s to report."""
    data = dispute_data(dispute_id)
    data.update(state=Dispute.State.OPEN.value, resolved_at=None, credit_note=None)
    for outcome in data["outcomes"]:
        outcome["credited"] = None
    return data


def margin_alert_data(alert_id: int) -> dict:
    alert = MarginAlert.objects.select_related("agreement__customer", "period").get(pk=alert_id)
    data = alert_payload(alert)
    del data["event"]  # the event's type says it
    return {"object": "margin_alert", "id": alert.pk, **data}


def budget_alert_data(alert_id: int) -> dict:
    alert = BudgetAlert.objects.select_related("budget__customer").get(pk=alert_id)
    return budget_alert_payload(alert)
