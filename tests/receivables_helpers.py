"""Issued invoices of a chosen total, currency and lateness, for receivables tests."""

from datetime import UTC, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.utils import timezone

from billing.models import Invoice
from billing.receivables import payment_record
from billing.services import period_close
from tests.billing_helpers import World


def invoice_of(
    amount: str, currency: str = "USD", *, days_overdue: int = 0, paid: str = "", tax_rate=None
) -> Invoice:
    """An issued invoice of one outcome at `amount` (net), due `days_overdue` days before
    today (negative: due later), with `paid` recorded against it."""
    w = World(currency=currency, unit_price=Decimal(amount))
    if tax_rate is not None:
        w.customer.tax_rate = tax_rate
        w.customer.save()
    w.signals(1)
    invoice = period_close(period_id=w.period().pk)
    today = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    Invoice.objects.filter(pk=invoice.pk).update(
        due_at=today - timedelta(days=days_overdue) + timedelta(hours=12)
    )
    if paid:
        payment_record(
            invoice_id=invoice.pk,
            amount=Decimal(paid),
            currency=currency,
            received_on=timezone.now().date(),
            reference=f"pay-{invoice.pk}",
        )
    invoice.refresh_from_db()
    return invoice


def staff(role: str) -> User | None:
    """A user of a group (Finance, Account managers, Viewers), a superuser, or None."""
    if role == "anonymous":
        return None
    if role == "superuser":
        return User.objects.create_superuser("root", password="x-123456-y")
    user = User.objects.create_user(role.lower().replace(" ", "-"), password="x-123456-y")
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=role))
    return user
