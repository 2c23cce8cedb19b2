"""Bad input to `/v1/traces` gets the answer the OTLP specification gives it, so an
exporter retries only what can succeed; nothing refused is stored; never a 500."""

import gzip
import json
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import override_settings
from django.utils import timezone
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from agents.models import Cost
from tests import factories as f
from tests.api_helpers import agent_key
from tests.otlp_helpers import export, llm, post_traces, span

pytestmark = pytest.mark.django_db

PROTOBUF = "application/x-protobuf"


@pytest.fixture
def agent():
    f.CustomerFactory(external_id="cus_42")
    return f.AgentFactory(external_id="support-bot")


@pytest.fixture
def key(agent):
    return agent_key(agent)


def status_of(response) -> status_pb2.Status:
    assert response["Content-Type"] == PROTOBUF
    return status_pb2.Status.FromString(response.content)


def as_protobuf(body: dict) -> bytes:
    from google.protobuf import json_format

    from agents.api.otlp import _hex_ids_to_base64

    _hex_ids_to_base64(body)
    return json_format.ParseDict(body, ExportTraceServiceRequest()).SerializeToString()


def test_a_good_protobuf_export_gets_an_empty_protobuf_answer(client, key):
    response = post_traces(client, as_protobuf(export(span(llm()))), key, content_type=PROTOBUF)
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert not answer.HasField("partial_success")
    assert Cost.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"not protobuf at all" * 10],
)
def test_a_malformed_protobuf_is_a_400_status(client, key, body):
    response = post_traces(client, body, key, content_type=PROTOBUF)
    assert response.status_code == 400
    assert "ExportTraceServiceRequest" in status_of(response).message
    assert not Cost.objects.exists()


@pytest.mark.parametrize(
    "body, named",
    [
        ("{", "not an ExportTraceServiceRequest"),
        ("[1, 2]", "must be an ExportTraceServiceRequest object"),
        ('{"resourceSpans": 5}', "not an ExportTraceServiceRequest"),
        ("[" * 100_000 + "]" * 100_000, "not an ExportTraceServiceRequest"),
    ],
)
def test_malformed_json_is_a_400_status_in_json(client, key, body, named):
    response = post_traces(client, body, key)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert named in response.json()["message"]
    assert not Cost.objects.exists()


def test_an_id_that_is_not_hex_is_a_400_naming_it(client, key):
    body = export(span(llm(), trace_id="zz" * 16))
    response = post_traces(client, body, key)
    assert response.status_code == 400 and "traceId" in response.json()["message"]


def rejected(response) -> tuple[int, str]:
    assert response.status_code == 200, response.content
    partial = response.json()["partialSuccess"]
    return int(partial["rejectedSpans"]), partial["errorMessage"]


@pytest.mark.parametrize(
    "attrs, named",
    [
        ({"llm.token_count.prompt": -5}, "llm.token_count.prompt: cannot be negative"),
        ({"llm.token_count.completion": 10**12}, "llm.token_count.completion: is over"),
        ({"llm.token_count.prompt": True}, "must be a whole number"),
        ({"llm.token_count.prompt": 1.5}, "must be a whole number"),
        ({"llm.token_count.prompt": "1000"}, "must be a whole number"),
        ({"gen_ai.usage.input_tokens": float("inf")}, "must be a whole number"),
        ({"gen_ai.usage.input_tokens": float("-inf")}, "must be a whole number"),
        ({"llm.cost.total": float("nan")}, "llm.cost.total: must be a finite number"),
        ({"llm.cost.total": -1.0}, "llm.cost.total: cannot be negative"),
        ({"llm.cost.total": 1e300}, "llm.cost.total: is too large"),
        ({"external_customer_id": "cus\x00x"}, "NUL"),
        ({"external_customer_id": "c" * 201}, "longer than 200"),
        ({"llm.model_name": "gpt\u200b-4o"}, "invisible"),
        ({"external_agent_id": "other-bot"}, "cannot post as 'other-bot'"),
        ({"external_agent_id": "nobody"}, "Unknown agent 'nobody'"),
        ({"paid_scope_id": "s" * 65}, "paid_scope_id: is longer than 64"),
        ({"llm.cost.total": "1_000"}, "llm.cost.total: must be a number"),
        ({"llm.token_count.prompt": [1, 2]}, "llm.token_count.prompt: must be a whole number"),
        ({"llm.model_name": {"nested": "x"}}, "llm.model_name: must be a string"),
    ],
)
def test_a_bad_span_is_counted_in_partial_success_and_the_good_one_stored(
    client, key, attrs, named
):
    f.AgentFactory(external_id="other-bot")
    good = span(llm(), name="good")
    bad = span({**llm(), **attrs}, name="bad")
    count, message = rejected(post_traces(client, export(good, bad), key))
    assert count == 1 and named in message
    assert list(Cost.objects.values_list("span_id", flat=True)) == [good["spanId"]]


@pytest.mark.parametrize("days", [2, 365 * 300])
def test_a_span_far_in_the_future_is_refused(client, key, days):
    at = timezone.now() + timedelta(days=min(days, 365 * 200))
    count, message = rejected(post_traces(client, export(span(llm(), at=at)), key))
    assert count == 1 and "in the future" in message
    assert not Cost.objects.exists()


def test_an_organisation_key_must_name_the_agent(client, agent):
    count, message = rejected(post_traces(client, export(span(llm())), agent_key()))
    assert count == 1 and "name one" in message
    assert not Cost.objects.exists()


def test_spans_without_usage_are_neither_stored_nor_refused(client, key):
    tool = span({"tool.name": "crm", "input.value": "a prompt"}, name="tool")
    response = post_traces(client, export(tool), key)
    assert response.status_code == 200 and response.json() == {}
    assert not Cost.objects.exists()


@override_settings(API_MAX_BODY_BYTES=5 * 1024 * 1024)
def test_a_50_mb_body_is_a_413(client, key):
    response = post_traces(client, b"\x00" * (50 * 1024 * 1024), key, content_type=PROTOBUF)
    assert response.status_code == 413
    assert "over 5,242,880 bytes" in status_of(response).message


@override_settings(API_MAX_BODY_BYTES=1024 * 1024)
def test_a_gzip_bomb_is_a_413_and_a_bad_gzip_a_400(client, key):
    bomb = gzip.compress(b"\x00" * (20 * 1024 * 1024))
    assert len(bomb) < 1024 * 1024
    response = post_traces(client, bomb, key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    response = post_traces(
        client, b"nope", key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 400
    truncated = gzip.compress(as_protobuf(export(span(llm()))))[:-12]
    response = post_traces(
        client, truncated, key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 400
    assert not Cost.objects.exists()


def test_a_gzip_json_export_is_read(client, key):
    body = gzip.compress(json.dumps(export(span(llm()))).encode())
    response = post_traces(client, body, key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200 and Cost.objects.count() == 1


def test_other_encodings_are_a_415(client, key):
    response = post_traces(client, b"x", key, content_type="text/plain")
    assert response.status_code == 415
    response = post_traces(
        client,
        as_protobuf(export(span(llm()))),
        key,
        content_type=PROTOBUF,
        HTTP_CONTENT_ENCODING="br",
    )
    assert response.status_code == 415 and "gzip" in status_of(response).message


def test_keys(client, agent):
    body = as_protobuf(export(span(llm())))
    response = client.post("/v1/traces", data=body, content_type=PROTOBUF)
    assert response.status_code == 401 and "Bearer" in status_of(response).message
    response = post_traces(client, body, "unknown.key", content_type=PROTOBUF)
    assert response.status_code == 401 and "Invalid API key" in status_of(response).message
    key = agent_key(agent)
    agent.active = False
    agent.save()
    response = post_traces(client, body, key, content_type=PROTOBUF)
    assert response.status_code == 403 and "deactivated" in status_of(response).message
    assert not Cost.objects.exists()


@override_settings(API_KEY_THROTTLE_RATE="2/minute")
def test_too_many_requests_is_a_429_with_retry_after(client, key):
    from django.core.cache import cache

    cache.clear()
    body = as_protobuf(export(span(llm())))
    codes = [post_traces(client, body, key, content_type=PROTOBUF) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert int(codes[2]["Retry-After"]) >= 1
    cache.clear()


def test_a_database_outage_is_a_503_with_retry_after_and_a_retry_succeeds(client, key):
    body = as_protobuf(export(span(llm())))
    with mock.patch("agents.api.otlp.spans_store", side_effect=OperationalError("gone")):
        response = post_traces(client, body, key, content_type=PROTOBUF)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert not Cost.objects.exists()
    assert post_traces(client, body, key, content_type=PROTOBUF).status_code == 200
    assert Cost.objects.count() == 1


def test_lone_surrogates_and_nul_in_json_strings_are_refused_not_a_500(client, key):
    body = json.dumps(export(span(llm(customer="\ud800")))).encode()
    response = post_traces(client, body, key)
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert rejected(response)[0] == 1
    assert not Cost.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "delete", "trace"])
def test_another_method_is_a_405_naming_post(client, key, method):
    response = client.generic(method.upper(), "/v1/traces", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 405 and response["Allow"] == "POST, OPTIONS"
    assert "not allowed" in status_of(response).message


def test_usage_without_a_model_is_refused_not_passed_over(client, key):
    attrs = llm()
    del attrs["llm.model_name"]
    count, message = rejected(post_traces(client, export(span(attrs)), key))
    assert count == 1 and "gen_ai.request.model: is missing" in message
    assert not Cost.objects.exists()


def test_an_own_cost_without_a_model_is_kept(client, key):
    attrs = {"external_customer_id": "cus_42", "llm.cost.total": 0.25}
    response = post_traces(client, export(span(attrs)), key)
    assert response.status_code == 200 and response.json() == {}
    cost = Cost.objects.get()
    assert (cost.amount, cost.model) == (Decimal("0.25"), "")


def test_a_start_time_out_of_range_is_named_as_such(client, key):
    body = export(span(llm()))
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"] = "1000"
    count, message = rejected(post_traces(client, body, key))
    assert count == 1 and "start_time_unix_nano: is before" in message


def test_a_bad_metadata_key_is_dropped_and_the_span_kept(client, key):
    attrs = {**llm(), "metadata.ok": "yes", "metadata.bad\x00key": "x", "metadata.": "empty"}
    response = post_traces(client, export(span(attrs)), key)
    assert response.status_code == 200 and response.json() == {}
    assert Cost.objects.get().metadata == {"ok": "yes"}


def test_too_many_spans_in_one_export_is_a_413(client, key, settings):
    from agents.api import otlp_spans

    many = [span({"tool.name": "x"}, name="t") for _ in range(otlp_spans.MAX_SPANS + 1)]
    response = post_traces(client, export(*many), key)
    assert response.status_code == 413 and "spans in one export" in response.json()["message"]


def test_gzip_members_and_trailing_bytes(client, key):
    one = as_protobuf(export(span(llm())))
    body = gzip.compress(one[:10]) + gzip.compress(one[10:])
    response = post_traces(client, body, key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="x-gzip")
    assert response.status_code == 200 and Cost.objects.count() == 1
    garbage = gzip.compress(one) + b"not gzip"
    response = post_traces(
        client, garbage, key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 400


def test_a_401_says_how_to_authenticate(client):
    response = client.post("/v1/traces", data=b"", content_type=PROTOBUF)
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="otlp"'
