"""Where a webhook may point, and the one HTTP POST that delivers to it (SSRF guard).

A webhook URL is chosen by a user, and the worker that calls it sits inside the operator's
network. So a destination must be http(s) and every address its host resolves to must be
public: loopback, private (RFC 1918, fc00::/7), link-local (cloud metadata at 169.254.169.254),
multicast, reserved and unspecified addresses are refused, unless
``KEYWARD_WEBHOOK_ALLOW_PRIVATE`` is on (tests, or a receiver on your own network). The check
runs when the webhook is saved and again at each delivery, and the connection is made to the
very address that was checked (no second DNS lookup a rebinding attacker could answer
differently). Redirects are not followed.
"""

import http.client
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class DestinationRefused(Exception):
    """The URL may not be called: a message safe to show its owner."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the vetted IP the connection goes to


def parse_url(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused("Not a valid URL.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused("A webhook URL must be http:// or https:// with a host.")
    if parts.username or parts.password:
        raise DestinationRefused("A webhook URL may not carry credentials.")
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(url: str) -> Destination:
    """The URL's parts and a vetted address to connect to, or ``DestinationRefused``."""
    scheme, host, port, path = parse_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DestinationRefused(f"The host {host!r} does not resolve.") from exc
    addresses = [info[4][0] for info in infos]
    if not settings.KEYWARD_WEBHOOK_ALLOW_PRIVATE:
        refused = [address for address in addresses if not is_public(address)]
        if refused:
            raise DestinationRefused(
                f"The host {host!r} resolves to a private, loopback or reserved address."
            )
    return Destination(scheme, host, port, path, addresses[0])


def check_url(url: str) -> None:
    """At save time: the URL's shape, and its addresses when the host is an IP literal.

    A name is resolved at delivery (DNS may not be reachable from where the API runs, and an
    answer can change); an address literal is judged now, so ``http://127.0.0.1`` is refused at
    once with a clear 400.
    """
    _, host, _, _ = parse_url(url)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host.rstrip(".").lower() == "localhost" and not settings.KEYWARD_WEBHOOK_ALLOW_PRIVATE:
            raise DestinationRefused("A webhook may not point to localhost.") from None
        return
    if not settings.KEYWARD_WEBHOOK_ALLOW_PRIVATE and not is_public(host):
        raise DestinationRefused("A webhook may not point to a private or loopback address.")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, destination: Destination, timeout: float):
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = destination.address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the vetted address, with SNI and certificate checked against the URL's host."""

    def __init__(self, destination: Destination, timeout: float):
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = destination.address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(destination: Destination, body: bytes, headers: dict, *, timeout: float) -> int:
    """POST ``body``; return the status code. Raises ``OSError`` (incl. timeouts) on failure."""
    connection_class = (
        _PinnedHTTPSConnection if destination.scheme == "https" else _PinnedHTTPConnection
    )
    connection = connection_class(destination, timeout)
    try:
        connection.request("POST", destination.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)  # drain a little; the body is not kept
        return response.status
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP answer: {type(exc).__name__}") from exc
    finally:
        connection.close()
