"""Where a webhook may point (server-side request forgery).

Only http(s) URLs, and only to public addresses: loopback, private, link-local (the cloud metadata
service at 169.254.169.254), multicast, reserved and unspecified addresses are refused, checked when
the URL is saved (literal addresses) and again before every delivery (every address the name
resolves to; redirects are never followed). ``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` lifts the address
check for a portal whose receivers live on its own network (and for the test suite, whose receiver
listens on loopback): a deployment decision, so a setting, not something any portal role can switch.
Residual risk, documented in the README: a name that resolves to a public address at the check and a
private one at connect time (DNS rebinding) is not caught.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeDestination(Exception):
    """The URL may not be called. The message names the host, never the path or query."""


def check_url_form(url: str) -> None:
    """Scheme, host and (when the host is an address) the address: what can be judged without DNS."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeDestination("Only http and https URLs can receive webhooks.")
    host = parts.hostname
    if not host:
        raise UnsafeDestination("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeDestination("Put no user name or password in the URL; use the signing secret.")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    _check_address(address, host)


def check_destination(url: str) -> None:
    """Everything :func:`check_url_form` checks, plus every address the host resolves to."""
    check_url_form(url)
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeDestination(f"{host} does not resolve: {exc.strerror}.") from None
    for info in infos:
        _check_address(ipaddress.ip_address(info[4][0]), host)


def _check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str) -> None:
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:
        raise UnsafeDestination(
            f"{host} is a private, loopback or reserved address; set WEBHOOK_ALLOW_PRIVATE_NETWORKS to allow it."
        )
