"""Where a webhook may be sent: http(s) only, and in production never to a private,
loopback, link-local or reserved address (the back-office must not be turned into a
probe of its own network).

Checked twice: when an endpoint is saved (a clear form error) and before every attempt,
since DNS may have changed. At delivery the host is resolved once, the addresses are
checked, and the request connects to the checked address itself (the URL's host becomes
that IP; the Host header and the TLS server name stay the host's, so certificates are
verified against the name): a second resolution by the HTTP client cannot rebind it.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

PRIVATE_REFUSAL = "points to a private address"


class TargetError(ValueError):
    """The URL may not receive webhooks; the message says why and what to fix."""


@dataclass(frozen=True)
class Target:
    """What to request: `url` (maybe with the host replaced by the checked IP), the Host
    header and TLS server name to send for it (None: the URL's own)."""

    url: str
    host_header: str | None = None
    sni_hostname: str | None = None


def private_allowed() -> bool:
    return settings.DEBUG or settings.WEBHOOK_ALLOW_PRIVATE_URLS


# Not public, whatever the running Python's `is_global` says (its tables vary by version).
REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "192.0.0.0/24",  # IETF protocol assignments
        "::/96",  # IPv4-compatible IPv6 (deprecated): ::7f00:1 is 127.0.0.1
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "fec0::/10",  # site-local IPv6 (deprecated)
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches: 6to4 (2002::/16), Teredo (its server
    and client) and NAT64 (64:ff9b::/96, the last 32 bits)."""
    found = [ip.sixtofour, *(ip.teredo or ())]
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in found if address is not None]


def is_public(address: str) -> bool:
    """A global unicast address, and so is every IPv4 address it wraps: anything not
    `is_global` (private, loopback, link-local, shared, reserved...), multicast, in
    REFUSED_NETWORKS, or wrapping such an IPv4 address is not."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:a.b.c.d is a.b.c.d itself
    if not ip.is_global or ip.is_multicast or any(ip in net for net in REFUSED_NETWORKS):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        return all(is_public(str(inner)) for inner in embedded_ipv4(ip))
    return True


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses (an IP literal is its own), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def url_parts(url: str):
    """The URL split, or TargetError if it is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise TargetError("Enter a valid URL, e.g. https://hooks.example.com/billing.") from None
    if parts.scheme not in ("http", "https"):
        shown = f" (not “{parts.scheme}”)" if parts.scheme else ""
        raise TargetError(f"Use an http:// or https:// URL{shown}.")
    if not parts.hostname:
        raise TargetError("The URL has no host: e.g. https://hooks.example.com/billing.")
    if parts.username or parts.password:
        raise TargetError(
            "Put no user name or password in the URL: receivers authenticate the sender by "
            "its signature."
        )
    return parts


def _public_addresses(host: str, port: int) -> list[str]:
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise TargetError(f"The host “{host}” could not be resolved: check its name.") from None
    public = [a for a in addresses if is_public(a)]
    if not public:
        raise TargetError(
            f"The URL {PRIVATE_REFUSAL} ({', '.join(addresses)}): use an address reachable "
            "on the internet."
        )
    return public


def url_check(url: str) -> str:
    """The URL, stripped, if an endpoint may have it; else TargetError. In production its
    host must resolve to at least one public address."""
    parts = url_parts(url)
    if not private_allowed():
        _public_addresses(parts.hostname, parts.port or _default_port(parts.scheme))
    return urlunsplit(parts._replace(fragment=""))


def target_resolve(url: str) -> Target:
    """What one attempt connects to (module docstring); TargetError if it may not."""
    parts = url_parts(url)
    if private_allowed():
        return Target(url=urlunsplit(parts._replace(fragment="")))
    host, port = parts.hostname, parts.port
    address = _public_addresses(host, port or _default_port(parts.scheme))[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{port}" if port else literal
    pinned = urlunsplit(parts._replace(netloc=netloc, fragment=""))
    return Target(
        url=pinned,
        host_header=parts.netloc,
        sni_hostname=host if parts.scheme == "https" else None,
    )


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
