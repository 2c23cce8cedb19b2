"""An agent traced with Paid's Python SDK (PyPI paid-python) and the real openai client:
its LLM span, exported over OTLP/HTTP to our `/v1/traces`, becomes one priced cost, and
the cost-attributed signal it sends to our v2 API claims that cost, whichever of the
two arrives first. Only the LLM vendor is a stub (a local OpenAI-compatible server)."""

import json
import threading
from decimal import Decimal
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import openai
import pytest
from genai_prices import Usage, calc_price
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from paid.tracing import (
    autoinstrumentation,
    cost_attributed_signal,
    get_paid_tracer_provider,
    initialize_tracing,
    paid_autoinstrument,
    paid_tracing,
)
from paid.tracing import tracing as paid_tracing_module
from paid.tracing.openai_patches import uninstrument_openai

from agents.models import Cost, Signal
from tests import factories as f
from tests.api_helpers import agent_key

MODEL = "gpt-4o-2024-08-06"
PROMPT = "Summarise ticket T-1234 for Zebulon Quackenbush"
ANSWER = "Printer rebooted; Zebulon is happy again"
COMPLETION = {
    "id": "chatcmpl-stub-1",
    "object": "chat.completion",
    "created": 1767225600,
    "model": MODEL,
    "system_fingerprint": "fp_stub",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": ANSWER, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
}
LLM_SCOPE = "openinference.instrumentation.openai"


def expected_amount() -> Decimal:
    price = calc_price(Usage(input_tokens=1000, output_tokens=200), model_ref=MODEL)
    return Decimal(str(price.total_price))


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread, stopped by close()."""

    def __init__(self, handler):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def _read_body(handler) -> bytes:
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


@pytest.fixture
def openai_stub():
    """An OpenAI-compatible vendor: `POST /v1/chat/completions` answers a fixed completion."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = _read_body(self)
            requests.append((self.path, json.loads(body)))
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            payload = json.dumps(COMPLETION).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = _Server(Handler)
    server.requests = requests
    yield server
    server.close()


@pytest.fixture
def collector_gate(live_server):
    """A pass-through in front of the live server's `/v1/traces` that holds each OTLP
    export until `open` is set, so a test can decide that the signal arrives first.
    The SDK's request is forwarded byte for byte (body, Content-Type, Authorization)."""
    target = urlsplit(live_server.url)
    gate = threading.Event()
    forwarded = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = _read_body(self)
            gate.wait(timeout=30)
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() in ("content-type", "content-encoding", "authorization")
            }
            upstream = HTTPConnection(target.hostname, target.port, timeout=30)
            try:
                upstream.request("POST", "/v1/traces", body=body, headers=headers)
                reply = upstream.getresponse()
                status, content_type, payload = (
                    reply.status,
                    reply.getheader("Content-Type", "application/x-protobuf"),
                    reply.read(),
                )
            finally:
                upstream.close()
            forwarded.append(status)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = _Server(Handler)
    server.open = gate
    server.forwarded = forwarded
    yield server
    gate.set()
    server.close()


@pytest.fixture
def paid_sdk(live_server, transactional_db, monkeypatch):
    """Paid's tracing as an agent sets it up, undone afterwards: the SDK keeps its
    provider, its key and its instrumented libraries in module globals, and patches the
    openai client process-wide."""
    customer = f.CustomerFactory(external_id="cus_x")
    agent = f.AgentFactory(external_id="agent_x")
    key = agent_key(agent)

    # Whatever an earlier test left, this test initializes tracing itself; all of it is
    # put back at teardown.
    monkeypatch.setattr(paid_tracing_module._TokenStore, "_TokenStore__token", None)
    monkeypatch.setattr(
        paid_tracing_module, "paid_tracer_provider", paid_tracing_module.paid_tracer_provider
    )
    monkeypatch.setattr(autoinstrumentation, "_initialized_instrumentors", [])
    # The SDK's process-exit hooks (an atexit flush, SIGINT/SIGTERM handlers) would
    # outlive the test and its servers; the tests flush explicitly instead.
    monkeypatch.setattr(paid_tracing_module, "setup_graceful_termination", lambda provider: None)

    def start(collector_endpoint):
        initialize_tracing(api_key=key, collector_endpoint=collector_endpoint)
        provider = get_paid_tracer_provider()
        assert provider is not None, "initialize_tracing did not set up a tracer provider"
        # A copy of every span as the SDK exports it (after its own processor has
        # stripped prompts), to know the LLM span's ids and attributes.
        seen = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(seen))
        paid_autoinstrument(["openai"])
        assert autoinstrumentation._initialized_instrumentors == ["openai"]
        started.append(provider)
        return provider, seen

    started = []
    yield start, customer, agent
    for provider in started:
        provider.shutdown()
    OpenAIInstrumentor().uninstrument()
    uninstrument_openai()


def ask_the_llm(vendor_url: str):
    with openai.OpenAI(base_url=f"{vendor_url}/v1", api_key="x", max_retries=0) as client:
        return client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": PROMPT}],
        )


def llm_span(seen: InMemorySpanExporter):
    spans = [s for s in seen.get_finished_spans() if s.instrumentation_scope.name == LLM_SCOPE]
    assert len(spans) == 1, [s.name for s in seen.get_finished_spans()]
    return spans[0]


def assert_one_linked_cost(span, customer, agent):
    """The span stored as exactly one cost, priced from the catalogue, linked to the one
    stored signal, with no prompt or answer text anywhere in what was stored."""
    attributes = dict(span.attributes)
    assert Cost.objects.count() == 1, (list(Cost.objects.values()), attributes)
    cost = Cost.objects.get()
    signal = Signal.objects.get()
    assert cost.trace_id == format(span.context.trace_id, "032x")
    assert cost.span_id == format(span.context.span_id, "016x")
    assert cost.agent == agent
    assert cost.model == MODEL
    assert (cost.input_tokens, cost.output_tokens) == (1000, 200)
    assert cost.amount == expected_amount() == Decimal("0.0045"), attributes
    assert cost.currency == "USD" and cost.priced_from_catalogue
    assert cost.scope_id == str(attributes["paid_scope_id"])
    assert signal.scope_id == str(signal.data["paid"]["paid_scope_id"]) == cost.scope_id
    assert cost.signal == signal, (attributes, signal.data)
    assert signal.event_name == "ticket_resolved"
    assert signal.data["status"] == "ok"
    assert signal.agent == agent
    assert signal.customer == customer
    assert cost.customer == customer
    stored = repr(list(Cost.objects.values())) + repr(list(Signal.objects.values()))
    assert PROMPT not in stored and "Zebulon" not in stored
    assert ANSWER not in stored


def test_signal_first_then_spans_link_to_it(paid_sdk, openai_stub, collector_gate, live_server):
    """The natural order: the signal is posted inside the traced call, the spans are
    exported afterwards (held at the gate until the signal is stored)."""
    start, customer, agent = paid_sdk
    provider, seen = start(f"{collector_gate.url}/v1/traces")

    @paid_tracing(external_customer_id="cus_x", external_product_id="agent_x")
    def resolve_ticket():
        completion = ask_the_llm(openai_stub.url)
        sent = cost_attributed_signal(
            "ticket_resolved",
            data={"status": "ok"},
            base_url_override=f"{live_server.url}/api/v2",
        )
        return completion, sent

    completion, sent = resolve_ticket()
    assert completion.usage.prompt_tokens == 1000
    assert [path for path, _ in openai_stub.requests] == ["/v1/chat/completions"]
    assert (sent.ingested, sent.failed) == (1, 0)
    # The signal is stored; no span has reached the server yet.
    assert Signal.objects.get().scope_id is not None
    assert Cost.objects.count() == 0
    assert collector_gate.forwarded == []

    collector_gate.open.set()
    assert provider.force_flush(30_000)
    assert collector_gate.forwarded and set(collector_gate.forwarded) == {200}
    assert_one_linked_cost(llm_span(seen), customer, agent)


def test_spans_first_then_signal_claims_the_cost(paid_sdk, openai_stub, live_server):
    """The other order: the LLM span is flushed to the server before the signal is sent."""
    start, customer, agent = paid_sdk
    provider, seen = start(f"{live_server.url}/v1/traces")
    waiting = []

    @paid_tracing(external_customer_id="cus_x", external_product_id="agent_x")
    def resolve_ticket():
        ask_the_llm(openai_stub.url)
        assert get_paid_tracer_provider().force_flush(30_000)
        waiting.extend(Cost.objects.values_list("signal_id", "scope_id"))
        return cost_attributed_signal(
            "ticket_resolved",
            data={"status": "ok"},
            base_url_override=f"{live_server.url}/api/v2",
        )

    sent = resolve_ticket()
    assert (sent.ingested, sent.failed) == (1, 0)
    # Before the signal: the cost was stored, waiting for it, under the span's scope.
    span = llm_span(seen)
    assert waiting == [(None, str(span.attributes["paid_scope_id"]))]
    assert provider.force_flush(30_000)
    assert_one_linked_cost(span, customer, agent)
