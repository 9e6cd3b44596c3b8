"""Rate limits and usage on every API request: the DRF throttle, the headers, failed attempts.

An API-key request is counted where the key is verified (``apikeys.authentication``), because
that one trip to the cache also tells whether the cached key is still current. Every other
request is counted here, in DRF's throttle step: a user (JWT or session) in the user's bucket, a
service client in its own, an anonymous caller in its IP's. Over the limit: 429
``rate_limit_error`` with ``Retry-After``.

When the shared cache is down, API traffic fails *open*: requests are served unlimited (a
warning is logged and ``keyward_meter_unavailable_total`` counts them) and key usage is written
straight to the database, so nothing is lost. Login, registration, bootstrap and key creation
fail *closed* instead (503), see ``identity.limits``.
"""

import logging

from django.dispatch import Signal
from rest_framework.throttling import BaseThrottle

from core.client_ip import client_ip
from core.errors import CreditsExhausted, RateLimitExceeded
from core.principal import principal_of
from identity import policy
from metering import credits
from metering.meter import (
    HEADER_NAMES,
    MeterUnavailable,
    Reading,
    meter_for_ip,
    note_meter_unavailable,
    take,
)

logger = logging.getLogger(__name__)

READING_ATTRIBUTE = "keyward_reading"

# Sent with ``request`` and ``reading`` when a principal's request is refused for its rate limit
# (never on an admitted one): ``notifications`` listens, to report a key's exhausted window once.
rate_limit_refused = Signal()
_UNSET = object()


def attach_reading(request, reading: Reading | None) -> None:
    """Remember the verdict on the Django request, where the headers middleware finds it."""
    setattr(getattr(request, "_request", request), READING_ATTRIBUTE, reading)


def reading_of(request):
    return getattr(getattr(request, "_request", request), READING_ATTRIBUTE, _UNSET)


def raise_if_over(reading: Reading | None) -> None:
    if reading is not None and not reading.admitted:
        if reading.credits_exhausted:
            raise CreditsExhausted(credits.retry_after(reading.credits))
        raise RateLimitExceeded(reading.retry_after, headers=reading.headers())


class KeywardRateThrottle(BaseThrottle):
    """DRF's throttle step, counted on the shared cache by ``metering.meter``."""

    def allow_request(self, request, view):
        reading = reading_of(request)
        if reading is _UNSET:
            # A view that authenticates nobody is counted by IP, without touching request.user
            # (which would replace the session user such views, like logout, rely on).
            principal = principal_of(request) if view.authentication_classes else None
            ip = client_ip(request)
            meter = (
                policy.meter_for_principal(principal) if principal is not None else meter_for_ip(ip)
            )
            reading = take_or_fail_open(meter, ip=ip)
            attach_reading(request, reading)
        if reading is not None and not reading.admitted:
            rate_limit_refused.send(sender=type(self), request=request, reading=reading)
        raise_if_over(reading)
        return True


def take_or_fail_open(meter, *, ip, tally=None) -> Reading | None:
    try:
        return take(meter, ip=ip, tally=tally)
    except MeterUnavailable as exc:
        note_meter_unavailable(exc)
        return None


def count_failed_authentication(request, *, tally=None) -> Reading | None:
    """Count a refused credential in the client IP's anonymous bucket; the caller may 429.

    ``tally`` (the audit's refused-key counter) is incremented in the same trip. When the
    refusal was counted already, that reading is returned: its ``tally`` is ``None`` unless the
    earlier count took the same tally.
    """
    reading = reading_of(request)
    if reading is not _UNSET:
        return reading
    ip = client_ip(request)
    reading = take_or_fail_open(meter_for_ip(ip), ip=ip, tally=tally)
    attach_reading(request, reading)
    return reading


class RateLimitHeadersMiddleware:
    """Put ``X-RateLimit-*`` and ``RateLimit-Policy``/``RateLimit`` on every counted response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        reading = getattr(request, READING_ATTRIBUTE, None)
        if reading is not None and reading.policy:
            # A 429 of ours already carries this same reading's set: written again, unchanged.
            write_own_headers(response, reading.header_values())
        return response


def write_own_headers(response, values) -> None:
    headers = response.headers
    for name, value in zip(HEADER_NAMES, values, strict=True):
        headers[name] = value
