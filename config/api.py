"""API-wide pieces: an exception handler that turns every client error into a 4xx; who may
read the schema and its docs."""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from rest_framework import status
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
    if isinstance(exc, DatabaseError):
        # The request was rolled back whole; the agent can retry it safely (idempotency keys).
        logger.exception("database error while handling %s", context.get("view"))
        return Response(
            {"detail": "Temporarily unable to store the request; nothing was stored. Retry."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return drf_exception_handler(exc, context)


class ApiDocsPermission(BasePermission):
    """/api/schema/ and /api/docs/: anyone when API_DOCS_PUBLIC, otherwise staff only."""

    def has_permission(self, request, view):
        if settings.API_DOCS_PUBLIC:
            return True
        return bool(request.user and request.user.is_active and request.user.is_staff)
