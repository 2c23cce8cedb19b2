"""`POST /v1/traces`: the real OpenTelemetry SDK and its OTLP/HTTP exporter send GenAI
spans to a live server; each LLM span becomes one cost, once."""

from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agents.models import Cost
from tests import factories as f
from tests.api_helpers import agent_key


def catalogue(model, provider, **tokens) -> Decimal:
    price = calc_price(Usage(**tokens), model_ref=model, provider_id=provider)
    return Decimal(price.total_price)


def record_spans(resource_attributes=None):
    """Spans made by the real SDK: a workflow span with two GenAI chat spans under it
    (one on a model the catalogue does not know) and a tool span without usage."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(resource_attributes or {}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test.genai")
    with tracer.start_as_current_span(
        "invoke_agent", attributes={"external_customer_id": "cus_42", "workflow_id": "wf-1"}
    ):
        with tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 200,
                "gen_ai.input.messages": '[{"role": "user", "content": "secret prompt"}]',
                "metadata.ticket": "T-9",
            },
        ):
            pass
        with tracer.start_as_current_span(
            "chat house-model",
            attributes={
                "gen_ai.system": "house",
                "gen_ai.request.model": "house-model-7",
                "gen_ai.usage.input_tokens": 50,
                "gen_ai.usage.output_tokens": 5,
            },
        ):
            pass
        with tracer.start_as_current_span("tool lookup", attributes={"tool.name": "crm"}):
            pass
    provider.shutdown()
    return memory.get_finished_spans()


def export(url, key, spans, compression=Compression.NoCompression):
    exporter = OTLPSpanExporter(
        endpoint=url, headers={"Authorization": f"Bearer {key}"}, compression=compression
    )
    try:
        return exporter.export(spans)
    finally:
        exporter.shutdown()


@pytest.fixture
def agent(transactional_db):
    f.CustomerFactory(external_id="cus_42")
    return f.AgentFactory(external_id="support-bot")


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_sdk_exports_genai_spans_and_a_reexport_stores_nothing_twice(
    live_server, agent, compression
):
    spans = record_spans()
    key = agent_key(agent)
    url = f"{live_server.url}/v1/traces"
    assert export(url, key, spans, compression) == SpanExportResult.SUCCESS
    assert export(url, key, spans, compression) == SpanExportResult.SUCCESS

    costs = Cost.objects.order_by("model")
    assert [c.model for c in costs] == ["gpt-4o-2024-08-06", "house-model-7"]
    priced, unpriced = costs
    assert priced.amount == catalogue(
        "gpt-4o-2024-08-06", "openai", input_tokens=1000, output_tokens=200
    )
    assert priced.amount == Decimal("0.0045")  # 1,000 x 2.50/M + 200 x 10.00/M
    assert (priced.input_tokens, priced.output_tokens) == (1000, 200)
    assert (priced.vendor, priced.category, priced.currency) == ("openai", "llm", "USD")
    assert priced.priced_from_catalogue
    # Attributed from the parent span; the prompt never stored, metadata kept.
    assert priced.customer.external_id == "cus_42" and priced.workflow_id == "wf-1"
    assert priced.agent == agent
    assert priced.metadata == {"ticket": "T-9"}
    assert "secret prompt" not in str(Cost.objects.values().get(pk=priced.pk))
    sdk_span = next(s for s in spans if s.name == "chat gpt-4o")
    assert priced.trace_id == f"{sdk_span.context.trace_id:032x}"
    assert priced.span_id == f"{sdk_span.context.span_id:016x}"
    # A model the catalogue does not know: a cost with no amount, not a zero.
    assert unpriced.amount is None and unpriced.unpriced
    assert (unpriced.input_tokens, unpriced.output_tokens) == (50, 5)


def test_the_agent_named_by_the_resource_is_used_with_an_organisation_key(live_server, agent):
    spans = record_spans({"external_agent_id": "support-bot"})
    assert export(f"{live_server.url}/api/otlp/v1/traces", agent_key(), spans) == (
        SpanExportResult.SUCCESS
    )
    assert Cost.objects.filter(agent=agent).count() == 2


def test_a_wrong_key_is_refused_and_nothing_stored(live_server, agent):
    result = export(f"{live_server.url}/v1/traces", "nope.nope", record_spans())
    assert result == SpanExportResult.FAILURE
    assert not Cost.objects.exists()
