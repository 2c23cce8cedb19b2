"""`POST /v1/traces`: an OTLP/HTTP trace receiver (protobuf or JSON, gzip or not) that
turns LLM spans into costs.

Answers as the OTLP specification says, so that an exporter retries only what can
succeed: 200 with `partial_success` counting the spans refused and why; 400 for a body
that does not decode (not retried); 401/403 for the key; 413 past API_MAX_BODY_BYTES
(after decompression too); 415 for another encoding; 429 and 503 with Retry-After
(retried). Error bodies are a google.rpc.Status in the request's encoding."""

import base64
import binascii
import json
import logging
import zlib

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, DataError, IntegrityError
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from rest_framework import exceptions
from rest_framework.views import APIView

from agents.api.authentication import AgentKeyAuthentication, AgentKeyThrottle, HasAgentKey
from agents.api.inputs import AgentResolver
from agents.api.otlp_spans import MAX_SPANS, spans_count, spans_parse
from agents.traces import spans_store

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ID_FIELDS = ("traceId", "spanId", "parentSpanId")
logger = logging.getLogger(__name__)


class OtlpError(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def _read_body(request) -> bytes:
    limit = settings.API_MAX_BODY_BYTES
    try:
        body = request.body
    except RequestDataTooBig:
        raise OtlpError(413, f"The body is over {limit:,} bytes; export smaller batches.") from None
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise OtlpError(415, f"Content-Encoding {encoding!r} is not supported; use gzip or none.")
    return _gunzip(body, limit)


def _gunzip(body: bytes, limit: int) -> bytes:
    """The gzip body inflated, at most `limit` bytes (413 past it); every member of a
    multi-member body, and nothing after the last one."""
    plain = b""
    rest = body
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            plain += inflater.decompress(rest, limit + 1 - len(plain))
        except zlib.error:
            raise OtlpError(400, "The body is not valid gzip.") from None
        if len(plain) > limit or inflater.unconsumed_tail:
            raise OtlpError(413, f"The decompressed body is over {limit:,} bytes.")
        if not inflater.eof:
            raise OtlpError(400, "The gzip body is truncated.")
        rest = inflater.unused_data
        if not rest:
            return plain


def _hex_ids_to_base64(node) -> None:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping reads bytes as
    base64. Converted in place, in spans and their links."""
    for resource_spans in _list(node, "resourceSpans"):
        for scope_spans in _list(resource_spans, "scopeSpans"):
            for span in _list(scope_spans, "spans"):
                for item in (span, *_list(span, "links")):
                    for name in ID_FIELDS:
                        value = item.get(name) if isinstance(item, dict) else None
                        if value in (None, ""):
                            continue
                        if not isinstance(value, str):
                            raise OtlpError(400, f"{name} must be a hex string.")
                        try:
                            item[name] = base64.b64encode(bytes.fromhex(value)).decode()
                        except ValueError:
                            raise OtlpError(400, f"{name} {value[:40]!r} is not hex.") from None


def _list(node, key) -> list:
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, list) else []


def _decode(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError):
            raise OtlpError(400, "The body is not an ExportTraceServiceRequest.") from None
        return message
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise OtlpError(400, "The JSON body must be an ExportTraceServiceRequest object.")
        _hex_ids_to_base64(document)
        # As the OTLP specification asks of receivers, unknown JSON fields are ignored.
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (ValueError, RecursionError, json_format.ParseError, binascii.Error) as exc:
        problem = f"The JSON body is not an ExportTraceServiceRequest: {exc}"
        raise OtlpError(400, problem[:300]) from None
    return message


def _encode(message, content_type: str) -> bytes:
    if content_type == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


class TracesView(APIView):
    """OTLP/HTTP traces, authenticated by an agent API key (`Authorization: Bearer <key>`)."""

    authentication_classes = [AgentKeyAuthentication]
    permission_classes = [HasAgentKey]
    throttle_classes = [AgentKeyThrottle]
    parser_classes = []

    def _content_type(self, request) -> str:
        kind = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        return JSON if kind == JSON else PROTOBUF

    @extend_schema(
        request={PROTOBUF: OpenApiTypes.BINARY, JSON: OpenApiTypes.OBJECT},
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="ExportTraceServiceResponse; `partialSuccess` counts refused spans.",
            ),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="google.rpc.Status"),
            413: OpenApiResponse(OpenApiTypes.OBJECT, description="google.rpc.Status"),
            415: OpenApiResponse(OpenApiTypes.OBJECT, description="google.rpc.Status"),
            # Every error here is a google.rpc.Status, as OTLP says, not {"detail": ...}.
            401: OpenApiResponse(OpenApiTypes.OBJECT, description="google.rpc.Status"),
            403: OpenApiResponse(OpenApiTypes.OBJECT, description="google.rpc.Status"),
            405: OpenApiResponse(OpenApiTypes.OBJECT, description="google.rpc.Status"),
            429: OpenApiResponse(OpenApiTypes.OBJECT, description="google.rpc.Status"),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="google.rpc.Status"),
        },
        summary="OTLP/HTTP: export trace spans (LLM spans become costs)",
        description=(
            "The OpenTelemetry Protocol over HTTP, protobuf or JSON, optionally gzip. Spans "
            "naming a model and token usage (OpenInference `llm.*` or GenAI `gen_ai.*`) "
            "become LLM costs priced from the catalogue, once per trace id + span id."
        ),
    )
    def post(self, request):
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in (PROTOBUF, JSON):
            raise OtlpError(415, f"Send {PROTOBUF} or {JSON}, not {content_type or 'nothing'}.")
        export = _decode(_read_body(request), content_type)
        if spans_count(export) > MAX_SPANS:
            raise OtlpError(
                413, f"More than {MAX_SPANS:,} spans in one export; export smaller batches."
            )
        parsed = spans_parse(export, resolver=AgentResolver(request.auth), now=timezone.now())
        spans_store(parsed.costs, parents=parsed.parents)
        response = ExportTraceServiceResponse()
        if parsed.rejected:
            response.partial_success.rejected_spans = parsed.rejected
            response.partial_success.error_message = "; ".join(parsed.problems)
        return HttpResponse(_encode(response, content_type), content_type=content_type)

    def handle_exception(self, exc):
        content_type = self._content_type(self.request)
        retry_after = None
        if isinstance(exc, OtlpError):
            status, message, retry_after = exc.status, exc.message, exc.retry_after
        elif isinstance(exc, exceptions.Throttled):
            status, message = 429, "Too many requests for this key; retry later."
            retry_after = int(exc.wait or 1) + 1
        elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            status, message = 401, str(exc.detail)
        elif isinstance(exc, exceptions.PermissionDenied):
            status, message = 403, str(exc.detail)
        elif isinstance(exc, exceptions.APIException):  # e.g. 405 for another method
            status, message = exc.status_code, str(exc.detail)
        elif isinstance(exc, DataError | IntegrityError):
            logger.exception("the database refused a traced cost")
            status, message = 400, "A value was refused by the database; nothing was stored."
        elif isinstance(exc, DatabaseError):
            logger.exception("database error while storing traced costs")
            status, message, retry_after = 503, "Temporarily unable to store; retry.", 5
        else:
            raise exc
        if status == 401 and not self.request.headers.get("Authorization"):
            message = "Send the key as 'Authorization: Bearer <key>'."
        body = status_pb2.Status(code=_rpc_code(status), message=message)
        response = HttpResponse(
            _encode(body, content_type), status=status, content_type=content_type
        )
        if retry_after:
            response["Retry-After"] = str(retry_after)
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="otlp"'
        if status == 405:
            response["Allow"] = "POST, OPTIONS"
        return response


def _rpc_code(status: int) -> int:
    # google.rpc.Code values
    return {400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14}.get(status, 2)
