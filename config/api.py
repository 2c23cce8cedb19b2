"""API-wide pieces: an exception handler that turns every client error into a 4xx; who may
read the schema and its docs."""

import logging
from datetime import UTC, timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, DataError, IntegrityError
from django_filters.fields import IsoDateTimeField
from django_filters.filters import IsoDateTimeFilter
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {
                "detail": "Request body is too large (over API_MAX_BODY_BYTES); send smaller "
                "batches of at most 1,000 items."
            },
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, RecursionError):
        return Response(
            {"detail": "The JSON is nested too deeply; nothing was stored."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DataError | IntegrityError):
        # A value the database refuses (a filter out of range, a value validation let
        # through): retrying the same request can never succeed, so it is no 503.
        logger.exception("the database refused a value while handling %s", context.get("view"))
        reason = str(exc).splitlines()[0] if str(exc) else "a value is out of range"
        return Response(
            {"detail": f"Refused by the database: {reason}. Nothing was stored."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DatabaseError):
        # The database is unavailable (or failed otherwise); the request was rolled back
        # whole and a retry can succeed (replays are safe: idempotency keys).
        logger.exception("database error while handling %s", context.get("view"))
        return Response(
            {"detail": "Temporarily unable to store the request; nothing was stored. Retry."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return drf_exception_handler(exc, context)


# PostgreSQL's time zones stop at ±15:59; a filter past them would fail in the database.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)


class BoundedIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time the database can compare with: a UTC offset within ±15:59
    and a UTC instant within years 1..9999. Anything else is a 400 naming the filter."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        offset = parsed.utcoffset()
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise DjangoValidationError("The UTC offset must be within ±15:59.", code="invalid")
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            raise DjangoValidationError("Out of range.", code="invalid") from None
        return parsed


class BoundedIsoDateTimeFilter(IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """Limit at most 1,000 rows a page; an offset past any table is a 400, not a query
    the database refuses."""

    max_limit = 1000
    max_offset = 10**12

    def get_offset(self, request):
        offset = super().get_offset(request)
        if offset > self.max_offset:
            raise ValidationError({self.offset_query_param: [f"At most {self.max_offset:,}."]})
        return offset


class ApiDocsPermission(BasePermission):
    """/api/schema/ and /api/docs/: anyone when API_DOCS_PUBLIC, otherwise staff only."""

    def has_permission(self, request, view):
        if settings.API_DOCS_PUBLIC:
            return True
        return bool(request.user and request.user.is_active and request.user.is_staff)
