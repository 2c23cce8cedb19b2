"""The OpenAPI description of every error status the API answers, with its body.

Every endpoint gets the statuses it can answer besides the ones its view declares: an
agent's POST 400, 401, 403, 413, 415, 429 and 503; a staff read 400 (a bad filter), 401,
403, 404 and 503. The bodies are those of config.api.exception_handler and DRF:
`{"detail": "..."}`, or field errors `{"<field>": ["..."]}`. A view declares a more
precise 400 with `bad_request(...)`.
"""

from functools import cache

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    inline_serializer,
)
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


FIELD_ERRORS = {
    "type": "object",
    "description": "Each field refused, with what to fix.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
# A field error, or {"detail": "..."} (a body that is not JSON, a parameter DRF refuses).
FIELD_ERRORS_OR_DETAIL = {
    "oneOf": [
        FIELD_ERRORS,
        {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]},
    ]
}


def bad_request(*refusals, description: str = "") -> OpenApiResponse:
    """400: one of the view's own refusals, or `{"detail": ...}` for a body that is not JSON."""
    names = [r.__name__ if isinstance(r, type) else r.__class__.__name__ for r in refusals]
    return OpenApiResponse(
        PolymorphicProxySerializer(
            component_name="Or".join(n.removesuffix("Serializer") for n in names) + "OrDetail",
            serializers=[*refusals, ErrorDetailSerializer],
            resource_type_field_name=None,
        ),
        description or "Refused; the body says what to fix. Not retryable as sent.",
    )


@cache  # one component per batch name, however many endpoints name it
def batch_refused(name: str):
    """The body of a batch refused whole: not an object with a list, empty, or too long."""
    return inline_serializer(
        name=f"{name.capitalize()}BatchRefused",
        fields={name: serializers.ListField(child=serializers.CharField())},
    )


def detail(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorDetailSerializer, description)


RETRY_LATER = (
    "Retry after the Retry-After header's seconds; replays with the same idempotency keys "
    "are safe (duplicates are counted, nothing is stored twice)."
)


def ingestion_errors() -> dict:
    limit = settings.API_MAX_BODY_BYTES
    return {
        "400": OpenApiResponse(FIELD_ERRORS_OR_DETAIL, "Refused; the body says what to fix."),
        "401": detail("No API key, or an unknown, revoked or expired one."),
        "403": detail("The key may not post as the agent named."),
        "413": detail(
            f"Body over API_MAX_BODY_BYTES ({limit:,} bytes here), chunked bodies included; "
            "send smaller batches."
        ),
        "415": detail("Content-Type is not application/json."),
        "429": detail(f"Too many requests for this key. {RETRY_LATER}"),
        "503": detail(f"The database is unavailable; nothing was stored. {RETRY_LATER}"),
    }


def staff_read_errors() -> dict:
    return {
        "400": OpenApiResponse(FIELD_ERRORS_OR_DETAIL, "A filter or page parameter is invalid."),
        "401": detail("The token is invalid."),
        "403": detail("Not logged in as staff, or without the permission to read this."),
        "404": detail("No such object, or an invalid cursor."),
        "503": detail(f"The database is unavailable. {RETRY_LATER}"),
    }


class ApiSchema(AutoSchema):
    """drf-spectacular's schema, plus the error statuses a view does not declare itself."""

    def error_responses(self) -> dict:
        return ingestion_errors() if self.method == "POST" else staff_read_errors()

    def get_override_parameters(self):
        codes = [429, 503] if self.method == "POST" else [503]
        retry_after = OpenApiParameter(
            "Retry-After",
            OpenApiTypes.INT,
            OpenApiParameter.HEADER,
            description="Seconds to wait before retrying.",
            response=codes,
        )
        return [*super().get_override_parameters(), retry_after]

    def _get_response_bodies(self, direction="response"):
        # Overrides a private method: extend_schema(responses=...) replaces
        # get_response_serializers() whole, so this is where both meet.
        responses = super()._get_response_bodies(direction)
        for code, response in self.error_responses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses


def refuse_unknown_fields(result, generator, request, public):
    """Postprocessing hook: the native (v1) request bodies refuse fields they do not
    declare, so their schema says `additionalProperties: false` (v2 accepts what Paid's
    API accepts and says nothing)."""
    from agents.api.request_fields import COST_V1, COSTS_V1, SIGNAL_V1, SIGNALS_V1

    schemas = result.get("components", {}).get("schemas", {})
    for shape in (SIGNAL_V1, COST_V1, SIGNALS_V1, COSTS_V1):
        if shape.name in schemas:
            schemas[shape.name]["additionalProperties"] = False
    return result
