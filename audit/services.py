"""The one way to write the audit log. Every state change calls ``audit_record``."""

import time

from django.core.cache import cache

from audit.models import AuditEvent
from core.cache import CACHE_ERRORS, Tally
from core.client_ip import client_ip


def audit_record(
    *,
    event_type: str,
    request=None,
    actor=None,
    actor_key_prefix: str = "",
    target=None,
    target_type: str = "",
    target_id: str = "",
    tenant_id=None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    data: dict | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Record ``event_type``; never pass a secret in ``data``.

    ``ip`` names the address the event is about when it is not the request's own (a key
    presented to ``keys/verify`` on behalf of another client).
    """
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if getattr(user, "is_authenticated", False) else None
    if not actor_key_prefix and request is not None:
        key = getattr(getattr(request, "auth", None), "api_key", None)
        actor_key_prefix = getattr(key, "key_prefix", "") or ""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
    return AuditEvent.objects.create(
        event_type=event_type,
        outcome=outcome,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=getattr(actor, "email", "") or "",
        actor_key_prefix=actor_key_prefix,
        ip=ip if ip is not None else (client_ip(request) if request is not None else None),
        target_type=target_type,
        target_id=str(target_id),
        tenant_id=tenant_id,
        data=_storable(data or {}),
    )


def _storable(value):
    """``value`` without NUL characters, which PostgreSQL's jsonb refuses.

    Audit data often quotes what a client sent (a refused scope, a form field's name), and a
    client may send anything; dropping NUL keeps the event instead of failing the request.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


def audit_prune(*, before) -> int:
    """Delete audit events older than ``before``; return how many went."""
    deleted, _ = AuditEvent.objects.filter(created_at__lt=before).delete()
    return deleted


BURST_THRESHOLDS = (10, 100, 1000, 10000)
BURST_WINDOW_SECONDS = 60


def burst_tally(request, code: str):
    """The per-address, per-minute counter of refused keys, for ``metering.meter.take``.

    The refusal's own trip to the shared cache (its count in the anonymous bucket) increments
    it too, so a refused key costs one round trip; ``None`` when ``code`` is not a refused key.
    """
    from core.errors import FAILED_KEY_CODES

    if code not in FAILED_KEY_CODES:
        return None
    minute = int(time.time() // BURST_WINDOW_SECONDS)
    return Tally(f"audit:keyfail:{client_ip(request)}:{minute}", 2 * BURST_WINDOW_SECONDS)


def audit_failed_key_authentication(request, code: str, *, count: int | None = None) -> None:
    """Aggregate refused API keys per client IP and minute; record a row at each threshold.

    One row when an IP reaches 10 refusals within a minute, another at 100, 1,000 and 10,000:
    a burst is visible in the log without a row (or a database write) per request. ``count``
    is the minute's tally when the refusal's count already incremented it (``burst_tally``);
    otherwise it is incremented here.
    """
    if count is None:
        count = _incr_tally(burst_tally(request, code))
        if count is None:
            return
    if count in BURST_THRESHOLDS:
        audit_record(
            event_type="api_key.auth_failed_burst",
            request=request,
            outcome=AuditEvent.Outcome.FAILURE,
            data={"failures": count, "window_seconds": BURST_WINDOW_SECONDS, "last_code": code},
        )


def _incr_tally(tally) -> int | None:
    """The tally incremented on its own (the shared cache unreachable: ``None``)."""
    if tally is None:
        return None
    try:
        try:
            return cache.incr(tally.key)  # one trip, but for an address's first refusal a minute
        except ValueError:
            return 1 if cache.add(tally.key, 1, tally.ttl) else cache.incr(tally.key)
    except (*CACHE_ERRORS, ValueError):
        return None
