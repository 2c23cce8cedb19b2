"""Paid's SDK changes, deletes and activates orders (our price agreements): an order
nothing was billed under is deleted with its prices, tiers and periods; a billed one is
kept (409) and can only be ended or renamed; activation answers the order as it is."""

from datetime import UTC, date, datetime

import pytest
from paid.core.api_error import ApiError
from paid.errors import NotFoundError

from billing.models import BillingPeriod, Invoice, Price, PriceAgreement, PriceTier
from billing.services import period_close
from tests import factories as f
from tests.test_paid_sdk_orders import JAN_1, catalogue, full_order, http, sdk  # noqa: F401

MAR_1 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def billed(sdk, catalogue):  # noqa: F811
    """An order whose January was closed and invoiced."""
    customer, agent, *_ = catalogue
    order = sdk.orders.create_order(**full_order(customer, agent))
    for _ in range(3):
        f.SignalFactory(
            agent=agent,
            customer=customer,
            event_name="doc_done",
            occurred_at=datetime(2026, 1, 15, tzinfo=UTC),
        )
    period_close(period_id=BillingPeriod.objects.get(agreement_id=order.id, starts_at=JAN_1).pk)
    return order


def test_an_order_nothing_was_billed_under_is_deleted_with_its_rows(sdk, catalogue):  # noqa: F811
    customer, agent, *_ = catalogue
    order = sdk.orders.create_order(**full_order(customer, agent))
    answer = sdk.orders.delete_order_by_id(order.id)
    assert answer.dict() == {}
    assert not PriceAgreement.objects.filter(pk=order.id).exists()
    assert not Price.objects.filter(agreement_id=order.id).exists()
    assert not PriceTier.objects.exists()
    assert not BillingPeriod.objects.filter(agreement_id=order.id).exists()
    deleted = PriceAgreement.history.get(id=order.id, history_type="-")
    assert "crm sync" in deleted.history_change_reason
    assert Price.history.filter(agreement_id=order.id, history_type="-").count() == 3
    with pytest.raises(NotFoundError):
        sdk.orders.get_order_by_id(order.id)


def test_a_billed_order_is_kept_and_the_answer_says_to_end_it(sdk, billed):  # noqa: F811
    with pytest.raises(ApiError) as refused:
        sdk.orders.delete_order_by_id(billed.id)
    assert refused.value.status_code == 409
    assert "end date" in refused.value.body["detail"]
    assert PriceAgreement.objects.filter(pk=billed.id).exists()
    assert Invoice.objects.filter(period__agreement_id=billed.id).count() == 1


def test_an_order_is_renamed_ended_and_its_terms_changed(sdk, catalogue):  # noqa: F811
    customer, agent, *_ = catalogue
    order = sdk.orders.create_order(**full_order(customer, agent))
    changed = sdk.orders.update_order_by_id(
        order.id, name="Acme pilot", end_date=MAR_1, payment_terms="net 45"
    )
    assert (changed.name, changed.end_date, changed.payment_terms) == (
        "Acme pilot",
        MAR_1,
        "net 45",
    )
    assert changed.version == 2
    stored = PriceAgreement.objects.get(pk=order.id)
    assert (stored.ends_on, stored.payment_terms_days) == (date(2026, 2, 28), 45)
    assert "crm sync" in stored.history.latest().history_change_reason
    # Its periods follow: January and February, none after its end.
    assert list(
        BillingPeriod.objects.filter(agreement=stored)
        .order_by("starts_at")
        .values_list("starts_at", flat=True)
    ) == [JAN_1, datetime(2026, 2, 1, tzinfo=UTC)]
    assert Price.objects.filter(agreement=stored).count() == 3  # prices unchanged


def test_a_billed_order_can_be_ended_after_its_billed_periods(sdk, billed):  # noqa: F811
    ended = sdk.orders.update_order_by_id(billed.id, end_date=MAR_1)
    assert ended.end_date == MAR_1
    assert ended.total_billed_amount == 99.99  # January: the fee (3 documents are free)
    with pytest.raises(ApiError) as refused:
        sdk.orders.update_order_by_id(billed.id, end_date=datetime(2026, 1, 20, tzinfo=UTC))
    assert refused.value.status_code == 409
    assert "2026-02-01" in str(refused.value.body)
    assert PriceAgreement.objects.get(pk=billed.id).ends_on == date(2026, 2, 28)


def test_activating_answers_the_order_as_it_is(sdk, catalogue):  # noqa: F811
    customer, agent, *_ = catalogue
    order = sdk.orders.create_order(**full_order(customer, agent))
    first = sdk.orders.activate_order_by_id(order.id)
    again = sdk.orders.activate_order_by_id(order.id)
    assert first.id == again.id == order.id
    assert first.creation_state == again.creation_state == "active"
    assert again.version == 1  # nothing changed
    with pytest.raises(NotFoundError):
        sdk.orders.activate_order_by_id("999999")
