"""Customer statements behind signed, expiring links; margin alerts sent once, by e-mail
and as a signed `margin.alert` webhook event whose failures are logged and never break
closing."""

import json
from datetime import timedelta
from decimal import Decimal as D
from unittest import mock

import pytest
from django.core import mail, signing

from billing.margins import margin_alert_raise
from billing.models import MarginAlert
from billing.services import period_close
from billing.statements import statement_token
from billing.tasks import send_margin_alerts
from tests import factories as f
from tests.billing_helpers import World
from tests.webhook_helpers import endpoint, receiver, signature_valid
from webhooks.delivery import delivery_attempt
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db


def closed(target=None, partial_rule="fixed"):
    w = World(
        unit_price=D(1),
        partial_rule=partial_rule,
        agreement_kwargs={"margin_target": target} if target else None,
    )
    for s in w.signals(3):
        f.CostFactory(agent=w.agent, customer=w.customer, signal=s, amount=D("0.90"))
    w.signals(2, status="partial")
    w.signals(1, status="broken")
    return w, period_close(period_id=w.period().pk)


def test_statement_lists_outcomes_partials_failures_and_total(client):
    _, invoice = closed()
    response = client.get(f"/statements/{statement_token(invoice.pk)}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "40% of the price each" in content
    row = response.context["outcomes"][0]
    assert (row["successes"], row["partials"], row["failures"]) == (3, 2, 1)
    assert 'id="statement-total">3.80 USD' in content  # 3 + 2 x 0.4


def test_tampered_statement_link_is_404_and_reveals_nothing(client):
    _, invoice = closed()
    token = statement_token(invoice.pk)
    response = client.get(f"/statements/{token[:-2]}xx/")
    assert response.status_code == 404
    forged = client.get(f"/statements/{invoice.pk}:abc:def/")
    assert forged.status_code == 404 and b"USD" not in forged.content


def test_expired_statement_link_is_410(client, settings):
    _, invoice = closed()
    token = statement_token(invoice.pk)
    settings.STATEMENT_LINK_DAYS = 1
    later = signing.time.time() + 2 * 86400
    with mock.patch("django.core.signing.time.time", return_value=later):
        response = client.get(f"/statements/{token}/")
    assert response.status_code == 410 and b"USD" not in response.content


def test_alert_sent_once_per_period_and_threshold(settings):
    settings.MARGIN_ALERT_EMAILS = ["am@example.com"]
    w, _ = closed(target=D(50))
    assert send_margin_alerts(w.period().pk) is not None
    assert send_margin_alerts(w.period().pk) is None  # no duplicate
    assert MarginAlert.objects.count() == 1 and len(mail.outbox) == 1
    assert "Margin below target" in mail.outbox[0].subject


def test_no_alert_above_target():
    w, _ = closed(target=D(5))
    assert margin_alert_raise(period_id=w.period().pk) is None


def test_an_alert_records_one_margin_alert_event_delivered_signed(settings):
    """The margin alert webhook of old is now a `margin.alert` event (docs/webhooks.md):
    one per alert, to the endpoints subscribed to it, signed and logged."""
    settings.MARGIN_ALERT_EMAILS = ["am@example.com"]
    w, _ = closed(target=D(50))
    with receiver() as (url, inbox):
        hook = endpoint(url, types=["margin.alert"])
        endpoint(url, types=["invoice.issued"])  # not subscribed: nothing
        alert_id = send_margin_alerts(w.period().pk)
        assert send_margin_alerts(w.period().pk) is None  # no second alert, no second event
        event = Event.objects.get()
        delivery = Delivery.objects.get()
        assert (event.key, delivery.endpoint) == (f"margin.alert:{alert_id}", hook)
        assert delivery_attempt(delivery_id=delivery.pk).state == "delivered"
    headers, body = inbox.requests[0]
    assert signature_valid(hook.secret, headers["Webhook-Signature"], body)
    data = json.loads(body)["data"]
    # revenue 3 + 2 x 0.4 = 3.80, cost 3 x 0.90 = 2.70: margin 1.10 = 28.95% < 50%.
    assert (data["margin_percent"], data["target_percent"]) == ("28.95", "50.00")
    assert data["customer_id"] == w.customer.external_id
    assert len(mail.outbox) == 1  # the e-mail stays


def test_a_failing_alert_receiver_is_logged_retried_and_does_not_break_closing():
    with receiver(answers=(500,)) as (url, _):
        endpoint(url, types=["margin.alert"])
        w, invoice = closed(target=D(50))
        assert invoice.sequence == 1  # the close itself was not affected
        send_margin_alerts(w.period().pk)
        delivery = delivery_attempt(delivery_id=Delivery.objects.get().pk)
    assert delivery.state == "retrying"
    assert [(a.number, a.status_code, a.succeeded) for a in delivery.attempt_log.all()] == [
        (1, 500, False)
    ]


def test_statement_link_expiry_is_a_setting(settings):
    assert timedelta(days=settings.STATEMENT_LINK_DAYS) >= timedelta(days=1)


def test_closing_queues_the_margin_check_after_commit_only_when_a_target_is_set(
    django_capture_on_commit_callbacks,
):
    queued = mock.patch.object(send_margin_alerts, "delay")
    with queued as delay, django_capture_on_commit_callbacks(execute=True):
        w, _ = closed(target=D(50))
    delay.assert_called_once_with(w.period().pk)
    with queued as delay, django_capture_on_commit_callbacks(execute=True):
        closed()
    assert not delay.called


def test_a_broker_that_does_not_answer_does_not_break_closing(django_capture_on_commit_callbacks):
    down = mock.patch.object(send_margin_alerts, "delay", side_effect=ConnectionError("down"))
    with down, django_capture_on_commit_callbacks(execute=True):
        _, invoice = closed(target=D(50))
    invoice.refresh_from_db()
    assert invoice.sequence == 1 and invoice.status == "issued"


def test_a_margin_check_for_a_period_that_no_longer_exists_is_skipped(caplog):
    assert send_margin_alerts(987654) is None
    assert "no such period" in caplog.text
