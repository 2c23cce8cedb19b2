"""Delivering margin alerts: e-mail through Django's backend, and an outbound webhook
signed with HMAC-SHA256 (header X-Signature: sha256=<hex of the body's HMAC>)."""

import hashlib
import hmac
import json

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from billing.models import MarginAlert, WebhookDelivery


def alert_payload(alert: MarginAlert) -> dict:
    agreement, period = alert.agreement, alert.period
    return {
        "event": "margin_below_target",
        "agreement_id": agreement.pk,
        "agreement": agreement.name,
        "customer_id": agreement.customer.external_id,
        "period_start": period.starts_at.isoformat(),
        "period_end": period.ends_at.isoformat(),
        "margin_percent": None if alert.margin_percent is None else str(alert.margin_percent),
        "target_percent": str(alert.threshold),
    }


def margin_alert_email(*, alert: MarginAlert) -> None:
    if not settings.MARGIN_ALERT_EMAILS:
        return
    p = alert_payload(alert)
    send_mail(
        subject=f"Margin below target: {p['agreement']} ({p['margin_percent']}% < "
        f"{p['target_percent']}%)",
        message=json.dumps(p, indent=2),
        from_email=None,
        recipient_list=settings.MARGIN_ALERT_EMAILS,
    )
    MarginAlert.objects.filter(pk=alert.pk).update(emailed_at=timezone.now())


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def margin_webhook_deliver(*, alert_id: int, attempt: int) -> bool:
    """One delivery attempt, logged whatever happens; True when the receiver took it."""
    alert = MarginAlert.objects.select_related("agreement__customer", "period").get(pk=alert_id)
    url = settings.MARGIN_ALERT_WEBHOOK_URL
    body = json.dumps(alert_payload(alert), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Signature": sign(body, settings.MARGIN_ALERT_WEBHOOK_SECRET),
    }
    delivery = WebhookDelivery(alert=alert, url=url, attempt=attempt)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=10)
        delivery.status_code = response.status_code
        delivery.delivered = 200 <= response.status_code < 300
    except httpx.HTTPError as exc:
        delivery.error = f"{exc.__class__.__name__}: {exc}"
    WebhookDelivery.objects.update_or_create(
        alert=alert,
        attempt=attempt,
        defaults={
            "url": url,
            "status_code": delivery.status_code,
            "error": delivery.error,
            "delivered": delivery.delivered,
        },
    )
    return delivery.delivered
