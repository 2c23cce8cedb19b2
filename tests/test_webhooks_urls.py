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


# Private IPv4 in other clothes: NAT64, 6to4, IPv4-compatible, site-local, the IETF
# block, IPv4-mapped, and IPv4 written in decimal or octal (the resolver reads both).
WRAPPED_PRIVATE = [
    "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254 (cloud metadata)
    "http://[64:ff9b:1::a00:1]/hook",  # local-use NAT64
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::]/hook",  # 6to4 of 169.254.169.254
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
    "http://[::7f00:1]/hook",  # IPv4-compatible 127.0.0.1
    "http://[fec0::1]/hook",  # site-local
    "http://192.0.0.8/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://2130706433/hook",  # 127.0.0.1 in decimal
    "http://0177.0.0.1/hook",  # 127.0.0.1 in octal
]


@pytest.mark.parametrize("url", WRAPPED_PRIVATE)
def test_a_wrapped_private_address_is_refused_at_save(production, url):
    f = form(url)
    assert not f.is_valid()
    assert "points to a private address" in f.errors["url"][0]


@pytest.mark.parametrize("url", WRAPPED_PRIVATE)
def test_a_wrapped_private_address_is_refused_at_delivery(production, url):
    """Saved while private URLs were allowed: each attempt refuses it, sends nothing and
    logs why."""
    endpoint(url)
    event_record(event_type="invoice.issued", key="invoice.issued:1", data=dict)
    delivery = delivery_attempt(delivery_id=Delivery.objects.get().pk)
    assert delivery.state == "retrying"
    attempt = Attempt.objects.get()
    # Refused by the check before any connection: no status, the reason logged.
    assert attempt.status_code is None
    assert attempt.error.startswith("Refused: The URL points to a private address")


@pytest.mark.parametrize(
    "url",
    ["http://[64:ff9b::808:808]/hook", "http://[2002:808:808::]/hook", "http://[2606:4700::1]/"],
)
def test_a_wrapped_public_address_is_accepted(production, url):
    assert form(url).is_valid()  # NAT64 and 6to4 of 8.8.8.8, a global IPv6 address
