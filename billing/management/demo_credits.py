"""Demo prepaid credits: an annual commitment for Acme Logistics (cus_01), a
promotional grant that expires at the end of next month, and a soft spend budget, so
that the credit pages and the balance endpoint show something (idempotent)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from billing.credits import grant_create
from billing.models import Budget, CreditGrant
from customers.models import Customer


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def demo_credits(*, start: date, today: date) -> None:
    customer = Customer.objects.filter(external_id="cus_01").first()
    if customer is None or CreditGrant.objects.filter(customer=customer).exists():
        return
    grant_create(
        customer=customer,
        name="Annual commitment",
        currency=customer.currency,
        amount=Decimal("12000.00"),
        effective_at=_midnight(start),
        expires_at=_midnight(start.replace(year=start.year + 1)),
        reference="demo-annual",
    )
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    grant_create(
        customer=customer,
        name="Launch promotion",
        kind=CreditGrant.Kind.PROMOTIONAL,
        currency=customer.currency,
        amount=Decimal("250.00"),
        effective_at=_midnight(start),
        expires_at=_midnight((next_month + timedelta(days=32)).replace(day=1)),
        priority=10,
        reference="demo-promo",
    )
    Budget.objects.get_or_create(
        customer=customer,
        defaults={"limit": Budget.Limit.SPEND, "amount": Decimal("3000.00")},
    )
