"""OTLP/JSON export bodies for tests, as an exporter writes them (hex ids, typed values)."""

import json
import math
import secrets
from datetime import UTC, datetime

JAN = datetime(2026, 1, 10, 12, tzinfo=UTC)


def value(v) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):  # proto3 JSON writes non-finite doubles as strings
        return {
            "doubleValue": v
            if math.isfinite(v)
            else {"inf": "Infinity", "-inf": "-Infinity"}.get(str(v), "NaN")
        }
    if isinstance(v, list):
        return {"arrayValue": {"values": [value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": attributes(v)}}
    return {"stringValue": v}


def attributes(attrs: dict) -> list:
    return [{"key": k, "value": value(v)} for k, v in attrs.items()]


def new_trace_id() -> str:
    return secrets.token_hex(16)


def span(attrs: dict, *, trace_id=None, span_id=None, parent=None, name="chat", at=JAN) -> dict:
    nanos = int(at.timestamp() * 1e9)
    body = {
        "traceId": trace_id or new_trace_id(),
        "spanId": span_id or secrets.token_hex(8),
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(nanos - 2_000_000_000),
        "endTimeUnixNano": str(nanos),
        "attributes": attributes(attrs),
    }
    if parent:
        body["parentSpanId"] = parent
    return body


def llm(
    customer="cus_42", agent=None, model="gpt-4o-2024-08-06", prompt=1000, completion=200, **extra
) -> dict:
    """OpenInference attributes as Paid's SDK sends them for one OpenAI call."""
    attrs = {
        "external_customer_id": customer,
        "llm.system": "openai",
        "llm.model_name": model,
        "llm.token_count.prompt": prompt,
        "llm.token_count.completion": completion,
        "llm.token_count.total": prompt + completion,
        "openinference.span.kind": "LLM",
    }
    if agent:
        attrs["external_agent_id"] = agent
    return {**attrs, **extra}


def export(*spans, resource=None) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes(resource or {})},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}],
            }
        ]
    }


def post_traces(client, body, key, *, content_type="application/json", **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(
        "/v1/traces",
        data=data,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **extra,
    )
