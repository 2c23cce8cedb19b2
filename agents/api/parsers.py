import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.parsers import JSONParser


class LimitedJSONParser(JSONParser):
    """JSON with a body size limit (413 past it), also for chunked bodies."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        length = (parser_context or {}).get("request").META.get("CONTENT_LENGTH") or 0
        if int(length or 0) > limit:
            raise RequestDataTooBig
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestDataTooBig

        return super().parse(io.BytesIO(body), media_type, parser_context)
