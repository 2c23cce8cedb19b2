"""Top-ups invoiced at once under concurrency (PostgreSQL): several issued at once take
consecutive invoice numbers, none twice; a top-up invoice's void racing a close that
draws its credits either cancels them all (and the close draws none) or is refused
(and the close drew them): never both, never a negative balance."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from billing.credit_grants import top_up_request
from billing.errors import StateError
from billing.models import CreditGrant, Invoice
from billing.services import invoice_void, period_close
from tests.billing_helpers import World
from tests.credit_helpers import START, ledger_sum
from tests.test_credit_grants_concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
NOW = datetime(2026, 1, 20, tzinfo=UTC)


def top_up(world, amount="100.00", reference=""):
    grant, _ = top_up_request(
        customer=world.customer,
        amount=D(amount),
        effective_at=START,
        invoice_now=True,
        reference=reference,
        at=NOW,
    )
    return grant


@pytest.mark.parametrize("attempt", range(2))
def test_top_ups_issued_at_once_take_consecutive_numbers(on_postgres, attempt):
    world = World(unit_price=D("10.00"))
    world.signals(1)
    counter = iter(range(4))

    def issue():
        n = next(counter)
        if n == 3:
            return period_close(period_id=world.period(1).pk)
        return top_up(world, reference=f"po-{n}")

    results = race(issue, times=4)
    assert not [r for r in results if isinstance(r, Exception)], results
    sequences = sorted(Invoice.objects.values_list("sequence", flat=True))
    assert len(sequences) == 4 and sequences == list(range(sequences[0], sequences[0] + 4))
    assert Invoice.objects.filter(kind="top_up").count() == 3


@pytest.mark.parametrize("attempt", range(4))
def test_a_void_racing_a_close_cancels_or_is_drawn_never_both(on_postgres, attempt):
    world = World(unit_price=D("10.00"))
    grant = top_up(world)
    world.signals(3)
    period_id = world.period(1).pk
    jobs = iter(["void", "close"] if attempt % 2 else ["close", "void"])

    def run():
        if next(jobs) == "void":
            return invoice_void(invoice_id=grant.purchase_invoice_id, reason="ordered twice")
        return period_close(period_id=period_id)

    results = race(run)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, StateError)]
    assert not unexpected, results
    grant = CreditGrant.objects.get(pk=grant.pk)
    invoice = Invoice.objects.get(period_id=period_id)
    drawn = -sum((line.amount for line in invoice.lines.filter(kind="credits_applied")), D("0"))
    voided = Invoice.objects.get(pk=grant.purchase_invoice_id).status == "void"
    if voided:  # the void first: all cancelled, nothing drawn, the outcomes billed
        assert (grant.remaining, drawn, invoice.total) == (D("0"), D("0"), D("30.00"))
    else:  # the close first: 30.00 drawn, the void refused
        assert any(isinstance(r, StateError) for r in results)
        assert (grant.remaining, drawn, invoice.total) == (D("70.00"), D("30.00"), D("0.00"))
    assert grant.remaining == ledger_sum(grant)
