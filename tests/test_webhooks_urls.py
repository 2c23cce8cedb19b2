"""Where webhooks may go: http(s) only; in production never a private, loopback,
link-local or reserved address, checked when the endpoint is saved and again at every
attempt, which connects to the address it checked (no DNS rebinding)."""

from unittest import mock

import pytest

from tests.webhook_helpers import endpoint, receiver
from webhooks.admin.endpoints import EndpointForm
from webhooks.delivery import delivery_attempt
from webhooks.events import event_record
from webhooks.models import Attempt, Delivery
from webhooks.targets import TargetError, target_resolve, url_check

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False


def form(url, types=("invoice.issued",)):
    return EndpointForm(data={"url": url, "event_types": list(types), "active": "on"})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "Use an http:// or https:// URL (not “ftp”)."),
        ("javascript:alert(1)", "Use an http:// or https:// URL (not “javascript”)."),
        ("hooks.example.com/x", "Use an http:// or https:// URL."),
        ("https://user:pw@hooks.example.com/", "Put no user name or password in the URL"),
        ("http://[::1", "Enter a valid URL"),
    ],
)
def test_a_url_that_is_not_http_is_a_form_error(url, message):
    f = form(url)
    assert not f.is_valid()
    assert message in f.errors["url"][0]


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:192.168.1.1]/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_a_private_address_is_refused_in_production(production, url):
    f = form(url)
    assert not f.is_valid()
    assert "points to a private address" in f.errors["url"][0]


def test_a_public_address_is_accepted_in_production(production):
    f = form("https://93.184.216.34/hooks#frag")
    assert f.is_valid(), f.errors
    assert f.cleaned_data["url"] == "https://93.184.216.34/hooks"


def test_a_host_resolving_only_to_private_addresses_is_refused(production):
    private = ["10.0.0.7", "192.168.0.2"]
    with (
        mock.patch("webhooks.targets.resolve", return_value=private),
        pytest.raises(TargetError, match="private address"),
    ):
        url_check("https://hooks.example.com/x")
    mixed = ["10.0.0.7", "93.184.216.34"]
    with mock.patch("webhooks.targets.resolve", return_value=mixed):
        assert url_check("https://hooks.example.com/x") == "https://hooks.example.com/x"
        target = target_resolve("https://hooks.example.com:8443/x?a=1")
    # The public address is the one connected to; the name stays in Host and TLS.
    assert target.url == "https://93.184.216.34:8443/x?a=1"
    assert (target.host_header, target.sni_hostname) == (
        "hooks.example.com:8443",
        "hooks.example.com",
    )


def test_private_addresses_are_allowed_outside_production(settings):
    settings.DEBUG, settings.WEBHOOK_ALLOW_PRIVATE_URLS = False, True
    assert form("http://127.0.0.1:8000/hook").is_valid()


def test_unknown_or_missing_event_types_are_form_errors():
    f = form("https://93.184.216.34/", types=("invoice.deleted",))
    assert not f.is_valid()
    assert "Unknown event type “invoice.deleted”" in f.errors["event_types"][0]
    f = form("https://93.184.216.34/", types=())
    assert not f.is_valid()
    assert f.errors["event_types"] == ["Choose at least one event type, or all events."]
    f = form("https://93.184.216.34/", types=("invoice.paid", "*"))
    assert f.is_valid() and f.cleaned_data["event_types"] == ["*"]


def test_delivery_rechecks_dns_and_connects_to_the_checked_address(settings):
    """Saved while allowed, then DNS turns the name private: the attempt is refused and
    logged; when it resolves public, the request goes to that address with the Host of
    the name (the public check is patched to count 127.0.0.1 as public, the receiver
    being local)."""
    with receiver() as (url, inbox):
        port = url.split(":")[2].split("/")[0]
        hook = endpoint(f"http://hooks.example.test:{port}/hooks/billing")
        event_record(event_type="invoice.issued", key="invoice.issued:1", data=dict)
        delivery = Delivery.objects.get()
        settings.DEBUG, settings.WEBHOOK_ALLOW_PRIVATE_URLS = False, False
        with mock.patch("webhooks.targets.resolve", return_value=["127.0.0.1"]) as resolve:
            first = delivery_attempt(delivery_id=delivery.pk)
            assert first.state == "retrying" and inbox.requests == []
            with mock.patch("webhooks.targets.is_public", return_value=True):
                second = delivery_attempt(delivery_id=delivery.pk, now=first.next_attempt_at)
    assert resolve.call_count == 2  # once per attempt, the HTTP client never resolves it
    assert second.state == "delivered"
    assert "private address" in Attempt.objects.get(number=1).error
    assert inbox.requests[0][0]["Host"] == f"hooks.example.test:{port}"
    hook.refresh_from_db()
    assert hook.failure_run == 0
