"""Delivering margin alerts: e-mail through Django's backend, and the signal
`margin_alert_raised(alert_id=...)`, from which the webhooks app records a `margin.alert`
event for the endpoints subscribed to it."""

import json

import django.dispatch
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from billing.models import MarginAlert

# Sent once per new alert, after it is committed (kwargs: alert_id).
margin_alert_raised = django.dispatch.Signal()


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
