"""API-wide pieces: an exception handler that turns every client error into a 4xx."""

from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {
                "detail": "Request body is too large (over API_MAX_BODY_BYTES); send smaller "
                "batches of at most 1,000 items."
            },
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    return drf_exception_handler(exc, context)
