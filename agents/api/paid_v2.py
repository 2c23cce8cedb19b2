"""Paid's v2 catalogue API (customers, contacts, products, orders, invoices): what every
endpoint of it shares.

- Our API keys as `Authorization: Bearer <key>`: any valid key reads; only an
  organisation key (one without an agent) creates, changes or deletes.
- Paid's list shape `{"data": [...], "pagination": {limit, offset, total, hasMore}}`,
  with `limit` (1 to 1,000) and `offset` checked, not silently replaced.
- Request bodies declared once as serializers of strict fields (paid_fields.py): the
  validator and the OpenAPI schema both come from them. A field a body does not declare
  is refused by name (400); a value that is well formed but that this back-office
  cannot represent is a 422 naming it (CannotRepresent).
- Field errors flattened to `{"lines[0].pricing.pricingModel": ["..."]}`; a conflict
  with what is stored (customers.errors.ConflictError) is a 409.
"""

from collections.abc import Mapping

from django.core.exceptions import ObjectDoesNotExist
from django.urls import register_converter
from django.utils.encoding import force_str
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.api.authentication import AgentKeyAuthentication, AgentKeyThrottle, HasAgentKey
from agents.api.field_checks import text_problem
from agents.api.parsers import LimitedJSONParser
from config.api import BoundedLimitOffsetPagination, exception_handler
from config.openapi import FIELD_ERRORS, FIELD_ERRORS_OR_DETAIL, RETRY_LATER, ApiSchema, detail
from config.renderers import DecimalJSONRenderer
from customers.errors import ConflictError

MAX_ID_DIGITS = 18  # ids are 64-bit integers: a longer one names nothing


# --- Errors --------------------------------------------------------------------------
class CannotRepresent(exceptions.ValidationError):
    """422: the request is well formed, but says something this back-office cannot keep
    (a draft, seats, a billing frequency it has no cadence for). Never silently dropped."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "cannot_represent"


def refuse(errors: Mapping[str, list[str]]) -> None:
    """Raise CannotRepresent when any field was refused."""
    if errors:
        raise CannotRepresent(dict(errors))


def printable(text: str) -> str:
    """Text safe to send back: a lone surrogate a client sent becomes `\\ud800`."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def field_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as one level, named by path: `billingAddress.country`,
    `lines[0].attributes[1].pricing`."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            elif key == "non_field_errors" and prefix:
                name = prefix
            else:
                name = f"{prefix}.{printable(str(key))}" if prefix else printable(str(key))
            for field, messages in field_errors(value, name).items():
                flat.setdefault(field, []).extend(messages)
    elif isinstance(detail, list | tuple) and all(isinstance(m, str) for m in detail):
        if detail:
            flat[prefix or "non_field_errors"] = [printable(force_str(m)) for m in detail]
    elif isinstance(detail, list | tuple):
        for index, item in enumerate(detail):
            for field, messages in field_errors(item, f"{prefix}[{index}]").items():
                flat.setdefault(field, []).extend(messages)
    else:
        flat[prefix or "non_field_errors"] = [printable(force_str(detail))]
    return flat


def catalogue_exception_handler(exc, context):
    """The project's handler, with conflicts as 409, an object deleted by a concurrent
    request as 404, and field errors flattened."""
    if isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound("No such object (it was just deleted).")
    if isinstance(exc, ConflictError):
        body = {exc.field: [exc.message]} if exc.field else {"detail": exc.message}
        return Response(body, status=status.HTTP_409_CONFLICT)
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = field_errors(response.data)
    return response


# --- Keys ----------------------------------------------------------------------------
class OrganisationKeyWrites(HasAgentKey):
    """Any valid key of an active agent (or the organisation's) reads; only an
    organisation key writes: the catalogue is the organisation's, not one agent's."""

    message = "Send an API key as 'Authorization: Bearer <key>'."

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        agent = request.auth.agent
        if request.method in SAFE_METHODS or agent is None:
            return True
        raise exceptions.PermissionDenied(
            f"This key belongs to agent {agent.external_id!r}: an agent's key reads the "
            "catalogue but cannot change it. Create, change and delete with an organisation "
            "key (one without an agent: manage.py create_agent_key --organisation)."
        )


# --- Lists ---------------------------------------------------------------------------
def whole_number(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 13 else None


class PaidPagination(BoundedLimitOffsetPagination):
    """Paid's list shape; a limit outside 1..1,000 or an offset that is not a whole
    number is a 400 (DRF would quietly use its default instead)."""

    default_limit = 100

    def get_limit(self, request):
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        limit = whole_number(raw)
        if limit is None or not 1 <= limit <= self.max_limit:
            raise exceptions.ValidationError(
                {self.limit_query_param: [f"A whole number from 1 to {self.max_limit:,}."]}
            )
        return limit

    def get_offset(self, request):
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        offset = whole_number(raw)
        if offset is None or offset > self.max_offset:
            raise exceptions.ValidationError(
                {self.offset_query_param: [f"A whole number from 0 to {self.max_offset:,}."]}
            )
        return offset

    def get_paginated_response(self, data):
        return Response(
            {
                "data": data,
                "pagination": {
                    "limit": self.limit,
                    "offset": self.offset,
                    "total": self.count,
                    "hasMore": self.offset + len(data) < self.count,
                },
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["data", "pagination"],
            "properties": {
                "data": schema,
                "pagination": {
                    "type": "object",
                    "required": ["limit", "offset", "total", "hasMore"],
                    "properties": {
                        "limit": {"type": "integer"},
                        "offset": {"type": "integer"},
                        "total": {"type": "integer"},
                        "hasMore": {"type": "boolean"},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {self.max_limit:,} (default 100).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit},
            },
            {
                "name": self.offset_query_param,
                "required": False,
                "in": "query",
                "description": "Rows to skip.",
                "schema": {"type": "integer", "minimum": 0, "maximum": self.max_offset},
            },
        ]


# --- OpenAPI -------------------------------------------------------------------------
class CatalogueSchema(ApiSchema):
    """Each operation's error statuses: every one 400, 401, 403, 429, 503; one object
    404; writes 409, 413, 415 and 422."""

    def error_responses(self) -> dict:
        errors = {
            "400": OpenApiResponse(
                FIELD_ERRORS_OR_DETAIL,
                "Refused; the body names each field or parameter and what to fix. "
                "Nothing was stored.",
            ),
            "401": detail("No API key, or an unknown, revoked or expired one."),
            "403": detail(
                "An agent's key asked to write (only an organisation key writes), or the "
                "key's agent is deactivated."
            ),
            "429": detail(f"Too many requests for this key. {RETRY_LATER}"),
            "503": detail(f"The database is unavailable; nothing was stored. {RETRY_LATER}"),
        }
        if "{" in self.path:
            errors["404"] = detail("No such object.")
        if self.method in ("POST", "PUT"):
            errors["413"] = detail("Body over API_MAX_BODY_BYTES.")
            errors["415"] = detail("Content-Type is not application/json.")
            errors["422"] = OpenApiResponse(
                FIELD_ERRORS,
                "Well formed, but names something this back-office cannot represent (see "
                "docs/paid-api.md); each field is named with the reason. Nothing was stored.",
            )
        if self.method in ("POST", "PUT", "DELETE"):
            errors["409"] = OpenApiResponse(
                FIELD_ERRORS_OR_DETAIL,
                "Refused by what is stored: an external id another object has, an object "
                "still in use, an agreement that would overlap another. Nothing was stored.",
            )
        return errors

    def get_override_parameters(self):
        retry_after = OpenApiParameter(
            "Retry-After",
            OpenApiTypes.INT,
            OpenApiParameter.HEADER,
            description="Seconds to wait before retrying.",
            response=[429, 503],
        )
        return [*AutoSchema.get_override_parameters(self), retry_after]


# --- Views ---------------------------------------------------------------------------
class CatalogueView(GenericAPIView):
    """Key authentication, organisation keys to write, throttled per key, JSON only."""

    authentication_classes = [AgentKeyAuthentication]
    permission_classes = [OrganisationKeyWrites]
    throttle_classes = [AgentKeyThrottle]
    parser_classes = [LimitedJSONParser]
    renderer_classes = [DecimalJSONRenderer]
    pagination_class = PaidPagination
    schema = CatalogueSchema()
    noun = "object"
    external_id_field = "external_id"

    def get_exception_handler(self):
        return catalogue_exception_handler

    def get_object(self):
        """By our id (`id`, digits) or by external id (`external_id`); 404 otherwise."""
        queryset = self.get_queryset()
        if "external_id" in self.kwargs:
            value, label = self.kwargs["external_id"], "external id"
            found = (
                None
                if text_problem(value)
                else queryset.filter(**{self.external_id_field: value}).first()
            )
        else:
            value, label = self.kwargs["id"], "id"
            valid = value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS
            found = queryset.filter(pk=int(value)).first() if valid else None
        if found is None:
            raise exceptions.NotFound(printable(f"No {self.noun} with {label} {value!r}."))
        self.check_object_permissions(self.request, found)
        return found


class ExternalIdConverter:
    """Any external id in a path, slashes and newlines included (the path converter stops
    at a newline): what names nothing is then this API's JSON 404, not Django's page."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ExternalIdConverter, "external_id")

ID = OpenApiParameter(
    "id",
    str,
    OpenApiParameter.PATH,
    description="Our id of the object, as its `id` gives it (digits).",
    pattern=f"^[0-9]{{1,{MAX_ID_DIGITS}}}$",
)
EXTERNAL_ID = OpenApiParameter(
    "external_id", str, OpenApiParameter.PATH, description="Your external id of the object."
)


def by_id_and_external_id(view: type, noun: str, **verbs: str) -> tuple[type, type]:
    """The object view twice, by our id and by external id, each with Paid's operation ids
    (getCustomerById, getCustomerByExternalId...). `verbs`: HTTP method -> verb."""

    def variant(suffix: str, parameter: OpenApiParameter) -> type:
        cls = type(f"{noun}{suffix}", (view,), {"__doc__": view.__doc__})
        operations = {
            method: extend_schema(operation_id=f"{verb}{noun}{suffix}", parameters=[parameter])
            for method, verb in verbs.items()
        }
        return extend_schema_view(**operations)(cls)

    return variant("ById", ID), variant("ByExternalId", EXTERNAL_ID)


class UnsupportedPaidEndpoint(APIView):
    """A path of Paid's API this back-office does not serve: a JSON 404 that says so
    (instead of an HTML page a client cannot parse)."""

    authentication_classes = []
    permission_classes = []
    renderer_classes = [DecimalJSONRenderer]

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise exceptions.NotFound(
            printable(
                f"{request.method} /api/v2/{kwargs.get('rest', '')} is not served here: this "
                "back-office implements Paid's customers, contacts, products, orders, "
                "invoices and credit balances (see docs/paid-api.md)."
            )
        )
