"""Delivering alerts: margin alerts (e-mail to MARGIN_ALERT_EMAILS, and the signal
`margin_alert_raised(alert_id=...)`) and budget alerts (e-mail to Finance, and the
signal `budget_alert_raised(alert_id=...)`), from which the webhooks app records
`margin.alert` and `budget.threshold` events for the endpoints subscribed to them."""

import json
import logging

import django.dispatch
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone

from billing.models import Budget, BudgetAlert, MarginAlert
from billing.money import format_money, round_line

logger = logging.getLogger(__name__)
FINANCE_GROUP = "Finance"

# Sent once per new alert, after it is committed (kwargs: alert_id).
margin_alert_raised = django.dispatch.Signal()
budget_alert_raised = django.dispatch.Signal()


def finance_recipients() -> list[str]:
    """Finance's mailboxes: the active users of the Finance group, and FINANCE_EMAILS."""
    users = get_user_model().objects.filter(
        groups__name=FINANCE_GROUP, is_active=True, email__gt=""
    )
    emails = [*users.values_list("email", flat=True).distinct(), *settings.FINANCE_EMAILS]
    return sorted(set(emails))


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


def budget_alert_payload(alert: BudgetAlert) -> dict:
    """The alert as the `budget.threshold` event's data: amounts as strings at the
    currency's minor unit, times in ISO 8601."""
    budget = alert.budget
    currency = budget.customer.currency
    return {
        "object": "budget_alert",
        "id": alert.pk,
        "customer": budget.customer.external_id,
        "currency": currency,
        "budget": budget.limit,
        "enforcement": budget.enforcement,
        "threshold": alert.threshold,
        "used": str(round_line(alert.used, currency) + 0),
        "limit": str(round_line(alert.limit, currency) + 0),
        "period_start": alert.period_starts_at.isoformat(),
        "raised_at": alert.raised_at.isoformat(),
    }


def budget_alert_email(*, alert: BudgetAlert) -> bool:
    """Tell Finance a customer reached a threshold of its budget; False (and logged)
    when Finance has no e-mail address. SMTP errors are raised."""
    budget = alert.budget
    customer = budget.customer
    currency = customer.currency
    used, limit = format_money(alert.used, currency), format_money(alert.limit, currency)
    if budget.limit == Budget.Limit.SPEND:
        what = f"{used} of its spend limit of {limit} {currency}"
    else:
        what = f"{used} of its {limit} {currency} of prepaid credits"
    if budget.enforcement == Budget.Enforcement.HARD:
        effect = (
            "The budget is hard: once at 100%, the balance API answers allowed: false to "
            "its agents. Signals are still recorded and billed as overage at close."
        )
    else:
        effect = "The budget is soft: nothing is stopped; this is an alert only."
    recipients = finance_recipients()
    if not recipients:
        logger.error("budget alert %s: no Finance e-mail to tell", alert.pk)
        return False
    send_mail(
        subject=f"Budget {alert.threshold}% reached: {customer.name} ({customer.external_id})",
        message=f"{customer.name} ({customer.external_id}) has used {what} in the period "
        f"from {alert.period_starts_at:%Y-%m-%d} ({alert.threshold}% reached on "
        f"{alert.raised_at:%Y-%m-%d %H:%M} UTC).\n\n{effect}\n\n"
        "To change the limit, edit the customer's budget in the admin, "
        "or grant more credits.\n",
        from_email=None,
        recipient_list=recipients,
    )
    return True
