"""Customer statements behind signed, expiring links; margin alerts sent once, by e-mail
and to a signed webhook whose failures are logged and never break closing."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, HTTPServer
from unittest import mock

import pytest
from django.core import mail, signing

from billing.alerts import margin_webhook_deliver
from billing.margins import margin_alert_raise
from billing.models import MarginAlert, WebhookDelivery
from billing.services import period_close
from billing.statements import statement_token
from billing.tasks import send_margin_alerts
from tests import factories as f
from tests.billing_helpers import World

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


class Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((body, self.headers["X-Signature"]))
        self.send_response(Receiver.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_webhook_signed_with_hmac_sha256_and_logged(settings, receiver):
    settings.MARGIN_ALERT_WEBHOOK_URL, settings.MARGIN_ALERT_WEBHOOK_SECRET = receiver, "s3cret"
    w, _ = closed(target=D(50))
    alert = margin_alert_raise(period_id=w.period().pk)
    Receiver.status = 200
    assert margin_webhook_deliver(alert_id=alert.pk, attempt=1)
    body, signature = Receiver.received[0]
    assert signature == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert json.loads(body)["event"] == "margin_below_target"
    assert WebhookDelivery.objects.get().delivered


def test_failing_webhook_is_logged_retried_and_does_not_break_closing(settings, receiver):
    settings.MARGIN_ALERT_WEBHOOK_URL = receiver
    Receiver.status = 500
    w, invoice = closed(target=D(50))
    assert invoice.sequence == 1  # the close itself was not affected
    alert = margin_alert_raise(period_id=w.period().pk)
    assert not margin_webhook_deliver(alert_id=alert.pk, attempt=1)
    settings.MARGIN_ALERT_WEBHOOK_URL = "http://127.0.0.1:9/unreachable"
    assert not margin_webhook_deliver(alert_id=alert.pk, attempt=2)
    attempts = list(WebhookDelivery.objects.order_by("attempt"))
    assert [(d.attempt, d.status_code, d.delivered) for d in attempts] == [
        (1, 500, False),
        (2, None, False),
    ]
    assert "ConnectError" in attempts[1].error


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
