"""Paid's Python SDK creates orders, which become our price agreements: per-unit,
graduated and volume prices and a platform fee, audited, billed as the admin's would be.
What an agreement cannot express is refused by name (422) and nothing is stored."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import httpx
import pytest
from paid import Paid
from paid.core.api_error import ApiError
from paid.errors import NotFoundError
from paid.types import CreateOrderLineAttributeRequest as Attribute
from paid.types import CreateOrderLineAttributeRequestPricing as Pricing
from paid.types import CreateOrderLineAttributeRequestPricingPricePoints as Points
from paid.types import CreateOrderLineAttributeRequestPricingPricePointsTiersItem as Tier
from paid.types import CreateOrderLineRequest as Line

from agents.models import AgentAPIKey
from billing.models import BillingPeriod, Price, PriceAgreement, PriceTier
from billing.services import period_close
from tests import factories as f

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def http(live_server, transactional_db):
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture
def sdk(live_server, http):
    _, key = AgentAPIKey.objects.create_key(name="crm sync")
    return Paid(token=key, base_url=f"{live_server.url}/api/v2", httpx_client=http)


@pytest.fixture
def catalogue():
    customer = f.CustomerFactory(external_id="cus_acme", currency="USD")
    agent = f.AgentFactory(external_id="doc-extractor")
    documents = f.OutcomeDefinitionFactory(agent=agent, name="Document", event_name="doc_done")
    pages = f.OutcomeDefinitionFactory(agent=agent, name="Pages", event_name="page_done")
    batches = f.OutcomeDefinitionFactory(agent=agent, name="Batch", event_name="batch_done")
    return customer, agent, documents, pages, batches


def usage(name, event, model, unit_price=0, tiers=None, **points):
    return Attribute(
        name=name,
        pricing=Pricing(
            event_name=event,
            charge_type="usage",
            pricing_model=model,
            billing_frequency="monthly",
            price_points=Points(unit_price=unit_price, tiers=tiers, **points),
        ),
    )


def fee(cents):
    return Attribute(
        name="Platform",
        pricing=Pricing(
            charge_type="recurring", pricing_model="flat", price_points=Points(unit_price=cents)
        ),
    )


def full_order(customer, agent, **extra):
    return dict(
        customer_id=str(customer.pk),
        start_date=JAN_1,
        payment_terms="net 14",
        lines=[
            Line(
                product_id=str(agent.pk),
                attributes=[
                    usage("Document", "doc_done", "perUnit", 150, included_quantity=10),
                    usage(
                        "Pages",
                        "page_done",
                        "graduatedPricing",
                        tiers=[
                            Tier(lower_bound=0, upper_bound=100, unit_amount=10),
                            Tier(lower_bound=100, unit_amount=5),
                        ],
                    ),
                    usage(
                        "Batch",
                        "batch_done",
                        "volumePricing",
                        tiers=[Tier(upper_bound=5, unit_amount=1000), Tier(unit_amount=800)],
                    ),
                    fee(9999),
                ],
            )
        ],
        **{"name": "Acme 2026", **extra},
    )


def test_an_order_becomes_an_agreement_with_its_prices_tiers_and_fee(sdk, catalogue):
    customer, agent, documents, pages, batches = catalogue
    order = sdk.orders.create_order(**full_order(customer, agent))
    agreement = PriceAgreement.objects.get(pk=order.id)
    assert (agreement.customer, agreement.name, agreement.currency) == (
        customer,
        "Acme 2026",
        "USD",
    )
    assert (agreement.starts_on, agreement.ends_on, agreement.cadence) == (
        date(2026, 1, 1),
        None,
        "monthly",
    )
    assert (agreement.platform_fee, agreement.payment_terms_days) == (D("99.99"), 14)
    per_unit = Price.objects.get(agreement=agreement, outcome_definition=documents)
    assert (per_unit.model, per_unit.unit_price, per_unit.included_quantity) == (
        "per_outcome",
        D("1.5"),
        10,
    )
    graduated = Price.objects.get(agreement=agreement, outcome_definition=pages)
    assert graduated.model == "graduated" and graduated.unit_price is None
    assert list(graduated.tiers.values_list("from_quantity", "up_to_quantity", "unit_price")) == [
        (0, 100, D("0.10")),
        (100, None, D("0.05")),
    ]
    volume = Price.objects.get(agreement=agreement, outcome_definition=batches)
    assert list(volume.tiers.values_list("from_quantity", "up_to_quantity", "unit_price")) == [
        (0, 5, 10),
        (5, None, 8),
    ]
    # As the admin does: the periods up to now exist.
    assert BillingPeriod.objects.filter(agreement=agreement, starts_at=JAN_1).exists()
    assert order.payment_terms == "net 14" and order.start_date == JAN_1 and order.version == 1


def test_an_orders_rows_are_audited_with_the_key_that_wrote_them(sdk, catalogue):
    customer, agent, *_ = catalogue
    order = sdk.orders.create_order(**full_order(customer, agent))
    agreement = PriceAgreement.objects.get(pk=order.id)
    reasons = {
        *agreement.history.values_list("history_change_reason", flat=True),
        *Price.history.filter(agreement_id=agreement.pk).values_list(
            "history_change_reason", flat=True
        ),
        *PriceTier.history.values_list("history_change_reason", flat=True),
    }
    assert len(reasons) == 1 and "crm sync" in reasons.pop()
    assert Price.history.filter(agreement_id=agreement.pk).count() == 3
    assert PriceTier.history.count() == 4


def test_an_order_bills_as_it_said(sdk, catalogue):
    customer, agent, documents, pages, batches = catalogue
    order = sdk.orders.create_order(**full_order(customer, agent))
    at = datetime(2026, 1, 15, tzinfo=UTC)
    for event, count in (("doc_done", 12), ("page_done", 120), ("batch_done", 6)):
        for _ in range(count):
            f.SignalFactory(agent=agent, customer=customer, event_name=event, occurred_at=at)
    period = BillingPeriod.objects.get(agreement_id=order.id, starts_at=JAN_1)
    invoice = period_close(period_id=period.pk)
    lines = {
        line.order_line_id: line.total_price_before_tax
        for line in sdk.invoices.get_invoice_lines(str(invoice.pk)).data
    }
    prices = {
        p.outcome_definition_id: str(p.pk) for p in Price.objects.filter(agreement_id=order.id)
    }
    assert lines[prices[documents.pk]] == 3.0  # (12 - 10 free) x 1.50
    assert lines[prices[pages.pk]] == 11.0  # 100 x 0.10 + 20 x 0.05
    assert lines[prices[batches.pk]] == 48.0  # 6 reach the second tier: 6 x 8
    assert lines[None] == 99.99  # the platform fee
    read = sdk.orders.get_order_by_id(order.id)
    assert read.total_billed_amount == 161.99 and read.billed_amount_no_tax == 161.99


def test_orders_and_their_lines_are_read_and_listed(sdk, catalogue):
    customer, agent, *_ = catalogue
    order = sdk.orders.create_order(
        **full_order(customer, agent, end_date=datetime(2027, 1, 1, tzinfo=UTC))
    )
    other = f.CustomerFactory()
    ended = sdk.orders.create_order(
        customer_id=str(other.pk),
        start_date=datetime(2025, 1, 1, tzinfo=UTC),
        end_date=datetime(2025, 7, 1, tzinfo=UTC),
        billing_frequency_override={"frequency": "quarterly"},
        lines=[
            Line(
                product_id=str(agent.pk), attributes=[usage("Document", "doc_done", "perUnit", 100)]
            )
        ],
    )
    stored = PriceAgreement.objects.get(pk=ended.id)
    assert (stored.ends_on, stored.cadence) == (date(2025, 6, 30), "quarterly")
    assert ended.end_date == datetime(2025, 7, 1, tzinfo=UTC)

    assert sdk.orders.get_order_by_id(order.id).name == "Acme 2026"
    lines = sdk.orders.get_order_lines(order.id)
    assert lines.pagination.total == 3 and {line.name for line in lines.data} == {
        "Document",
        "Pages",
        "Batch",
    }
    assert all(line.product_id == str(agent.pk) for line in lines.data)
    assert [line.name for line in sdk.orders.get_order_lines(order.id, limit=1, offset=0).data] == [
        "Document"
    ]

    assert [o.id for o in sdk.orders.list_orders().data] == [order.id, ended.id]
    assert [o.id for o in sdk.orders.list_orders(customer_id=str(other.pk)).data] == [ended.id]
    assert [o.id for o in sdk.orders.list_orders(external_customer_id="cus_acme").data] == [
        order.id
    ]
    assert [o.id for o in sdk.orders.list_orders(status="ended").data] == [ended.id]
    assert [o.id for o in sdk.orders.list_orders(start_date_from="2026-01-01").data] == [order.id]
    assert [o.id for o in sdk.orders.list_orders(end_date_to="2025-07-01").data] == [ended.id]
    assert sdk.orders.list_orders(end_date_to="2025-06-30").data == []
    assert sdk.orders.list_orders(creation_state="draft").data == []
    with pytest.raises(NotFoundError):
        sdk.orders.get_order_lines("999999")


def test_what_an_agreement_cannot_express_is_refused_by_name_and_nothing_is_stored(sdk, catalogue):
    customer, agent, *_ = catalogue
    seats = Attribute(
        name="Seats",
        quantity=5,
        pricing=Pricing(
            charge_type="seatBased", pricing_model="perUnit", price_points=Points(unit_price=2000)
        ),
    )
    credits = Attribute(
        name="Document",
        pricing=Pricing(
            event_name="doc_done",
            charge_type="usage",
            pricing_model="prepaidCredits",
            credits_currency_id="cc_1",
            billing_frequency="semiAnnually",
            price_points=Points(unit_price=100),
        ),
    )
    unknown_event = usage("Refund", "refund_issued", "perUnit", 100)
    with pytest.raises(ApiError) as refused:
        sdk.orders.create_order(
            customer_id=str(customer.pk),
            creation_state="draft",
            metadata={"deal": "D-1"},
            lines=[Line(product_id=str(agent.pk), attributes=[seats, credits, unknown_event])],
        )
    assert refused.value.status_code == 422
    assert {
        "creationState",
        "metadata",
        "lines[0].attributes[0].pricing.chargeType",
        "lines[0].attributes[1].pricing.pricingModel",
        "lines[0].attributes[1].pricing.creditsCurrencyId",
        "lines[0].attributes[1].pricing.billingFrequency",
        "lines[0].attributes[2].pricing.eventName",
    } <= set(refused.value.body)
    assert not PriceAgreement.objects.exists() and not PriceAgreement.history.exists()


def test_an_order_overlapping_the_customers_agreement_is_a_conflict(sdk, catalogue):
    customer, agent, *_ = catalogue
    sdk.orders.create_order(**full_order(customer, agent))
    with pytest.raises(ApiError) as refused:
        sdk.orders.create_order(**full_order(customer, agent, name="Again"))
    assert refused.value.status_code == 409 and "Acme 2026" in refused.value.body["detail"]
    assert PriceAgreement.objects.count() == 1
