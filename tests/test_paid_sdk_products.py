"""Paid's Python SDK manages our agents as its products: the real SDK against a live
server. What an agent cannot keep (product codes, metadata, prices) is refused (422)."""

import httpx
import pytest
from paid import Paid
from paid.core.api_error import ApiError
from paid.errors import NotFoundError

from agents.models import Agent
from tests import factories as f
from tests.api_helpers import agent_key


@pytest.fixture
def sdk(live_server, transactional_db):
    with httpx.Client(timeout=30) as http:
        yield Paid(token=agent_key(), base_url=f"{live_server.url}/api/v2", httpx_client=http)


def test_a_product_created_with_the_sdk_is_an_agent(sdk):
    product = sdk.products.create_product(
        name="Document extractor", description="Reads invoices", external_id="doc-extractor"
    )
    agent = Agent.objects.get(external_id="doc-extractor")
    assert product.id == str(agent.pk) and product.external_id == "doc-extractor"
    assert (agent.name, agent.description, agent.active) == (
        "Document extractor",
        "Reads invoices",
        True,
    )
    assert product.product_code is None and product.archived_at is None


def test_products_are_listed_read_and_changed_by_id_and_external_id(sdk):
    f.AgentFactory(external_id="a-1", name="Alpha")
    beta = f.AgentFactory(external_id="b-2", name="Beta", active=False)
    listed = sdk.products.list_products(limit=1, offset=1)
    assert [p.external_id for p in listed.data] == ["b-2"]
    assert listed.pagination.total == 2 and not listed.pagination.has_more
    assert [p.name for p in sdk.products.list_products(active=False).data] == ["Beta"]
    assert [p.name for p in sdk.products.list_products(name="alp").data] == ["Alpha"]
    assert sdk.products.list_products(archived=True).data == []

    detail = sdk.products.get_product_by_external_id("b-2")
    assert detail.id == str(beta.pk) and detail.product_attributes == []
    assert sdk.products.get_product_by_id(str(beta.pk)).name == "Beta"

    changed = sdk.products.update_product_by_id(str(beta.pk), active=True, description="New")
    assert changed.active is True and changed.name == "Beta"
    renamed = sdk.products.update_product_by_external_id("b-2", external_id="b-3", name="Beta 3")
    beta.refresh_from_db()
    assert (beta.external_id, beta.name, beta.active, beta.description) == (
        "b-3",
        "Beta 3",
        True,
        "New",
    )
    assert renamed.updated_at >= renamed.created_at
    with pytest.raises(NotFoundError):
        sdk.products.get_product_by_external_id("b-2")


def test_what_an_agent_cannot_keep_is_refused_by_name_and_nothing_changes(sdk):
    agent = f.AgentFactory(external_id="doc", name="Doc")
    with pytest.raises(ApiError) as refused:
        sdk.products.update_product_by_id(
            str(agent.pk),
            name="Renamed",
            product_code="SKU-1",
            metadata={"team": "ops"},
            product_attributes=[
                {
                    "name": "Pages",
                    "pricing": {
                        "pricingType": "UsagePerUnit",
                        "eventName": "page_read",
                        "pricePoints": [{"currency": "USD", "unitPrice": 10}],
                    },
                }
            ],
        )
    assert refused.value.status_code == 422
    assert {"productCode", "metadata", "productAttributes"} <= set(refused.value.body)
    agent.refresh_from_db()
    assert agent.name == "Doc"
    with pytest.raises(ApiError) as refused:
        sdk.products.create_product(name="No id")
    assert refused.value.status_code == 400 and "externalId" in refused.value.body
    assert Agent.objects.count() == 1


def test_an_external_id_that_is_not_an_agent_id_is_refused(sdk):
    with pytest.raises(ApiError) as refused:
        sdk.products.create_product(name="Spaces", external_id="has spaces")
    assert refused.value.status_code == 400 and "externalId" in refused.value.body
    assert not Agent.objects.exists()
