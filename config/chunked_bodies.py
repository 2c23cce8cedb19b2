"""A chunked request body reaches Django as an ordinary one, with its CONTENT_LENGTH.

WSGI servers give no CONTENT_LENGTH for `Transfer-Encoding: chunked`, and Django reads
CONTENT_LENGTH bytes of the body, i.e. none: a chunked signal was parsed as `{}` (400
"event_name: This field is required") and a 10 MB one was never measured (no 413).
gunicorn decodes the chunks and marks the input as ending with the body
(`wsgi.input_terminated`), so the body can be read to its end here. We read at most
API_MAX_BODY_BYTES + 1 bytes: a longer body arrives with a CONTENT_LENGTH over the limit,
and the same checks as for a declared length answer 413 (the API's parser) or 400
(Django's DATA_UPLOAD_MAX_MEMORY_SIZE elsewhere). A server that does not terminate the
input (reading could block past the body) answers 411 instead.
"""

import io
import json

from django.conf import settings

CHUNK_BYTES = 64 * 1024


def is_chunked(environ) -> bool:
    encoding = environ.get("HTTP_TRANSFER_ENCODING", "")
    return "chunked" in encoding.lower() and not environ.get("CONTENT_LENGTH")


def read_at_most(stream, limit: int) -> bytes:
    """The body's bytes, at most `limit` of them (read() may return fewer than asked)."""
    parts, size = [], 0
    while size < limit:
        part = stream.read(min(CHUNK_BYTES, limit - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def length_required(start_response):
    body = json.dumps(
        {"detail": "Send the body with a Content-Length header; chunked bodies are not read."}
    ).encode()
    start_response(
        "411 Length Required",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


class ChunkedBodies:
    """WSGI middleware: buffers a chunked body (bounded) and sets CONTENT_LENGTH."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if is_chunked(environ):
            if not environ.get("wsgi.input_terminated"):
                return length_required(start_response)
            body = read_at_most(environ["wsgi.input"], settings.API_MAX_BODY_BYTES + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)
