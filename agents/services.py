"""Writes on agents' facts: signals and costs."""

from collections.abc import Iterable

from django.db import transaction
from django.db.models import OuterRef, Subquery

from agents.models import Cost, Signal
from customers.models import Customer


@transaction.atomic
def signals_attach_unattributed(*, external_ids: Iterable[str] | None = None) -> int:
    """Attach waiting signals (and their costs) to the customer that now has their external id.

    Idempotent: only rows with no customer are touched, in one UPDATE per table.
    Returns the number of signals attached.
    """
    known = Customer.objects.values("external_id")
    customer_id = Subquery(
        Customer.objects.filter(external_id=OuterRef("external_customer_id")).values("id")[:1]
    )
    signals = Signal.objects.filter(customer__isnull=True, external_customer_id__in=known)
    costs = Cost.objects.filter(customer__isnull=True, external_customer_id__in=known)
    if external_ids is not None:
        external_ids = list(external_ids)
        signals = signals.filter(external_customer_id__in=external_ids)
        costs = costs.filter(external_customer_id__in=external_ids)
    attached = signals.update(customer_id=customer_id)
    costs.update(customer_id=customer_id)
    return attached
