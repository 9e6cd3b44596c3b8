"""The client's IP address, decided in one place for rate limits, allowlists, audit and usage."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    """Return the address of the client that sent ``request``.

    The socket peer (``REMOTE_ADDR``) is the truth unless ``KEYWARD_TRUSTED_PROXIES`` says how
    many proxies in front of us append to ``X-Forwarded-For``. Then the client is the entry that
    the outermost trusted proxy appended: counting from the right, so that anything a client
    writes into the header itself lies to the left and is never believed. A forged header
    therefore never opens a fresh rate-limit bucket.
    """
    # On Django's own request: a miss on DRF's wrapper goes through its slow ``__getattr__``.
    request = getattr(request, "_request", request)
    cached = getattr(request, "_keyward_client_ip", None)
    if cached is not None:
        return cached
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104
    ip = remote
    hops = settings.KEYWARD_TRUSTED_PROXIES
    if hops > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if forwarded:
            candidate = forwarded[-hops] if len(forwarded) >= hops else forwarded[0]
            if _is_ip(candidate):
                ip = candidate
    request._keyward_client_ip = ip
    return ip


def has_proxy_headers(request) -> bool:
    """True when the request was relayed by a proxy (used to refuse the loopback bypass)."""
    meta = request.META
    return any(
        name in meta
        for name in ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED", "HTTP_VIA")
    )


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
