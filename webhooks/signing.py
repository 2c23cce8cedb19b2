"""The signature of a webhook: `Webhook-Signature: t=<unix seconds>,v1=<hex>`, where hex
is HMAC-SHA256 keyed with the endpoint's secret over `f"{t}.{body}"` (Stripe's scheme).
The receiver recomputes it over the raw body and refuses a `t` too far from its clock."""

import hashlib
import hmac
import json


def event_body(payload: dict) -> bytes:
    """The bytes POSTed for an event: the same for every attempt and replay."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
