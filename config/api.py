"""API-wide pieces: an exception handler that turns every client error into a 4xx."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from rest_framework import status
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
