"""DRF's ``EXCEPTION_HANDLER``: a refused credential is counted, then answered as any error is.

A refused credential counts against the client IP's anonymous limit (429 when over), and a
refused API key feeds the audit log's failed-authentication bursts. That bookkeeping needs
``metering`` and ``audit``, which ``core.errors`` (the one shape of every error) stands below,
so the two are composed here, at the top of the layers (docs/architecture.md).
"""

from rest_framework import exceptions

from audit.services import audit_failed_key_authentication, burst_tally
from core.errors import RateLimitExceeded, api_exception_handler, code_of
from metering.throttles import count_failed_authentication


def exception_handler(exc, context):
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        exc = refused_credential(exc, context.get("request"))
    return api_exception_handler(exc, context)


def refused_credential(exc, request):
    """``exc`` counted in the client address's anonymous bucket (and, for a refused key, in
    the audit's burst tally, in the same trip); the 429 instead when that bucket is full."""
    if request is None:
        return exc
    code = code_of(exc)
    tally = burst_tally(request, code)
    reading = count_failed_authentication(request, tally=tally)
    if tally is not None:
        counted = reading.tally if reading is not None else None
        audit_failed_key_authentication(request, code, count=counted)
    if reading is not None and not reading.admitted:
        return RateLimitExceeded(reading.retry_after, headers=reading.headers())
    return exc
