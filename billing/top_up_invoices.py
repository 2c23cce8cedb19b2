"""Top-ups invoiced at once: a credit purchase on its own invoice (kind `top_up`, no
period), issued in the grant's transaction, numbered in the invoice series, delivered
and paid like any invoice. A void cancels the credits it sold (refused once some were
used: a credit note then credits what is left); it has no reissue."""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from billing.credits import purchase_lines
from billing.errors import GrantError, StateError
from billing.invoice_store import invoice_lines_store
from billing.invoicing import DraftInvoice
from billing.models import (
    CreditGrant,
    CreditLedgerEntry,
    Invoice,
    InvoiceDelivery,
    PriceAgreement,
    SellerProfile,
)
from billing.money import ZERO
from billing.taxes import invoice_taxes, line_tax_rate, rate_tax

Kind = CreditLedgerEntry.Kind


def top_up_agreement(*, customer, currency: str) -> PriceAgreement | None:
    """The agreement whose tax and payment terms a top-up invoice takes: the customer's
    agreement in the currency in effect today, else the one that started last."""
    today = timezone.now().date()
    agreements = PriceAgreement.objects.filter(customer=customer, currency=currency)
    current = agreements.filter(starts_on__lte=today).filter(
        Q(ends_on__isnull=True) | Q(ends_on__gte=today)
    )
    return (current.order_by("-starts_on", "pk").first()) or (
        agreements.order_by("-starts_on", "-pk").first()
    )


def top_up_invoice_problem(*, customer, currency: str) -> str | None:
    """What stops a top-up of `customer` in `currency` being invoiced at once, or None."""
    if top_up_agreement(customer=customer, currency=currency) is None:
        return (
            f"Customer {customer.external_id} has no agreement in {currency} to take the "
            "invoice's tax and payment terms from: add one first."
        )
    missing = SellerProfile.current().missing
    if missing:
        return (
            "The seller profile is incomplete: fill in "
            + ", ".join(missing)
            + " in Admin › Billing › Seller profile, then try again."
        )
    return None


def top_up_charge_problem(*, customer, currency: str, charge) -> str | None:
    """What is wrong with invoicing `charge` (a purchase price, net) for a top-up: with
    the agreement's tax, the line and the invoice's total must stay below LIMIT (the
    stored amounts' 12 integer digits)."""
    from billing.credit_grants import LIMIT

    agreement = top_up_agreement(customer=customer, currency=currency)
    if agreement is None or not isinstance(charge, Decimal) or not charge.is_finite():
        return None  # said by the other checks
    rate = line_tax_rate(agreement=agreement, price=None)
    percent = rate.percent if rate is not None else ZERO
    if charge + rate_tax(charge, percent, currency) >= LIMIT:
        return "With its tax the invoice would reach 1,000,000,000,000: sell less at once."
    return None


def top_up_invoice_issue(*, grant: CreditGrant, at) -> Invoice:
    """Issue the invoice of `grant`'s purchase, inside the caller's transaction (the
    grant's creation): one `credit_purchase` line at its purchase price with the
    agreement's tax. The caller has checked top_up_invoice_problem."""
    from billing.services import invoice_issued  # the signal's receivers deliver it

    customer = grant.customer
    agreement = top_up_agreement(customer=customer, currency=grant.currency)
    problem = top_up_invoice_problem(customer=customer, currency=grant.currency)
    if problem:  # changed since the request was checked (an agreement deleted meanwhile)
        raise GrantError({"invoice_now": problem})
    seller = SellerProfile.current()
    terms = customer.payment_terms_days
    if terms is None:
        terms = agreement.payment_terms_days
    invoice = Invoice.objects.create(
        kind=Invoice.Kind.TOP_UP,
        customer=customer,
        currency=grant.currency,
        issued_at=at,
        due_at=at + timedelta(days=terms),
        total=ZERO,
        seller=seller.details(),
        buyer=customer.details(),
    )
    draft = DraftInvoice(period=None, currency=grant.currency, top_ups=[grant])
    draft.lines = purchase_lines([grant], line_tax_rate(agreement=agreement, price=None))
    draft.taxes = invoice_taxes(draft.lines, grant.currency)
    invoice_lines_store(invoice=invoice, draft=draft, seller=seller)
    CreditGrant.objects.filter(pk=grant.pk).update(purchase_invoice=invoice)
    grant.purchase_invoice = invoice
    delivery = InvoiceDelivery.objects.create(invoice=invoice, kind=InvoiceDelivery.Kind.INVOICE)
    transaction.on_commit(
        lambda: invoice_issued.send(sender=Invoice, invoice_id=invoice.pk, delivery_id=delivery.pk)
    )
    return invoice


def top_up_purchase_cancel(*, invoice: Invoice, at, user=None) -> None:
    """A top-up invoice's void takes back the credits it sold, with a cancellation entry
    each, inside the void's transaction (the invoice locked). Refused, changing nothing,
    when some were drawn already."""
    grants = list(
        CreditGrant.objects.select_for_update().filter(purchase_invoice=invoice).order_by("pk")
    )
    for grant in grants:
        # Drawn by invoices and not given back (an expiry is not a use).
        used = -(
            grant.entries.filter(kind__in=(Kind.DRAWDOWN, Kind.REVERSAL)).aggregate(
                total=Sum("amount")
            )["total"]
            or ZERO
        )
        if used > 0:
            raise StateError(
                f"Invoice {invoice.number}: {grant.amount_display(used)} of the credits it "
                "sold were used already; credit the rest with a credit note instead of "
                "voiding it."
            )
    for grant in grants:
        left = grant.remaining
        if left == 0:
            continue  # expired unused: nothing left to cancel
        grant.remaining = ZERO
        grant.save(update_fields=["remaining"])
        CreditLedgerEntry.objects.create(
            grant=grant,
            kind=Kind.CANCELLATION,
            amount=-left,
            value=-left if grant.unit == CreditGrant.Unit.MONEY else ZERO,
            balance_after=ZERO,
            invoice=invoice,
            at=at,
            created_by=user,
            note=f"Invoice {invoice.number} voided: purchase cancelled",
        )
