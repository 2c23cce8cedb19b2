"""Agents instrumented with Paid's Python SDK work unchanged against our v2 API:
the real SDK (PyPI paid-python) talks HTTP to a live test server."""

from decimal import Decimal

import httpx
import pytest
from paid import Cost_Cost, Cost_Usage, CustomerByExternalId, Paid, Signal, TokenUsage
from paid.errors import BadRequestError
from paid.types.product_by_external_id import ProductByExternalId

from agents.models import Cost
from agents.models import Signal as StoredSignal
from tests import factories as f
from tests.api_helpers import agent_key


@pytest.fixture
def sdk(live_server, transactional_db):
    f.AgentFactory(external_id="doc-extractor")
    f.CustomerFactory(external_id="cus_42")
    # The SDK as an agent would build it; our own httpx client only so that the test
    # closes its keep-alive connections before the live server stops.
    with httpx.Client(timeout=30) as http:
        yield Paid(token=agent_key(), base_url=f"{live_server.url}/api/v2", httpx_client=http)


def product():
    return ProductByExternalId(external_product_id="doc-extractor")


def test_sdk_creates_signals_with_replays_counted(sdk):
    signals = [
        Signal(
            event_name="document_processed",
            customer=CustomerByExternalId(external_customer_id="cus_42"),
            attribution=product(),
            data={"llm_cost": 0.045, "pages": 3},
            idempotency_key="sdk-1",
            timestamp="2026-01-31T23:00:00Z",
        ),
        Signal(
            event_name="document_processed",
            customer=CustomerByExternalId(external_customer_id="cus_new"),
            attribution=product(),
        ),
    ]
    first = sdk.signals.create_signals(signals=signals)
    assert (first.ingested, first.duplicates, first.failed) == (2, 0, 0)
    again = sdk.signals.create_signals(signals=signals[:1])
    assert (again.ingested, again.duplicates) == (0, 1)
    stored = StoredSignal.objects.get(idempotency_key="sdk-1")
    assert stored.customer.external_id == "cus_42" and stored.data["pages"] == 3
    assert stored.occurred_at.isoformat() == "2026-01-31T23:00:00+00:00"
    assert Cost.objects.get(signal=stored).amount == Decimal("0.045")
    assert StoredSignal.objects.get(external_customer_id="cus_new").customer is None


def test_sdk_creates_costs_of_both_types(sdk):
    customer = CustomerByExternalId(external_customer_id="cus_42")
    result = sdk.costs.create_costs(
        costs=[
            Cost_Cost(
                customer=customer,
                product=product(),
                amount=0.5,
                currency="EUR",
                vendor="aws",
                model="lambda",
            ),
            Cost_Usage(
                customer=customer,
                product=product(),
                vendor="openai",
                model="gpt-4o",
                usage=TokenUsage(input_tokens=1000, output_tokens=500),
            ),
        ]
    )
    assert (result.ingested, result.duplicates) == (2, 0)
    usage = Cost.objects.get(priced_from_catalogue=True)
    assert usage.amount == Decimal("0.0075") and usage.customer.external_id == "cus_42"
    assert Cost.objects.get(currency="EUR").amount == Decimal("0.5")


def test_sdk_sees_a_bad_cost_batch_as_400_and_nothing_is_stored(sdk):
    customer = CustomerByExternalId(external_customer_id="cus_42")
    with pytest.raises(BadRequestError) as exc:
        sdk.costs.create_costs(
            costs=[
                Cost_Cost(customer=customer, product=product(), amount=0.5, currency="USD"),
                Cost_Usage(
                    customer=customer,
                    product=product(),
                    vendor="openai",
                    model="no-such-model",
                    usage=TokenUsage(input_tokens=10),
                ),
            ]
        )
    assert "no-such-model" in str(exc.value.body)
    assert Cost.objects.count() == 0
