"""Canary keys: honeytokens that look like any key, never authorise, and report every use.

A canary (``key_type: canary``) is issued like any key, so it has the same prefix, length and
checksum, and is planted where a thief would look (a config file, a wiki page, a repository).
Whoever presents it gets exactly the answer an unknown key gets: 401 ``invalid_api_key`` with
the same body and headers, counted in the caller's anonymous bucket. Its owner gets the
touch: a Prometheus counter on every use, and an ``api_key.canary_touched`` audit event (which
notifications turn into email and webhooks) with the caller's IP, method, path and user agent.

The refusal is decided where a looked-up key is judged (``ApiKey.refusal``,
``apikeys.authentication`` and ``apikeys.verification``), so every door refuses it; a warm
canary is recognised from the process's verified-record cache, with no database query.

Recording is bounded so that a flood of touches is not a flood of database writes: at most one
audit event per key, client IP and minute (the counter still counts every use). A process
remembers which touches it has recorded this minute, and the shared cache (``cache.add``)
makes that hold across processes and nodes; with the shared cache away, each process records
at most one event per key, IP and minute on its own.
"""

import threading
import time

from django.core.cache import cache

from apikeys.models import ApiKey
from audit.models import AuditEvent
from audit.services import audit_record
from core.cache import CACHE_ERRORS
from core.client_ip import client_ip
from core.metrics import CANARY_TOUCHES

TOUCH_EVENT = "api_key.canary_touched"
TOUCH_WINDOW_SECONDS = 60  # at most one audit event per key, client IP and window
MAX_FIELD_LENGTH = 512  # a path or user agent is stored cut to this length
MAX_REMEMBERED = 10_000  # touches this process remembers recording in the current window

_recorded: set[tuple] = set()
_recorded_window = 0
_lock = threading.Lock()


def canary_touch_record(
    *,
    api_key: ApiKey,
    request=None,
    ip: str | None = None,
    method: str = "",
    path: str = "",
    channel: str = "request",
) -> AuditEvent | None:
    """Count a use of the canary ``api_key``; record it unless this key and IP already were
    recorded this minute. Returns the event recorded, if one was.

    ``request`` is the request that presented the key (its IP, method, path and user agent are
    recorded); without one (``keys/verify`` judging a key for another client) ``ip``,
    ``method`` and ``path`` say what is known. Never records the key itself.
    """
    CANARY_TOUCHES.labels(channel=channel).inc()
    user_agent = original_uri = ""
    if request is not None:
        # Never DRF's wrapper (its ``.user`` would authenticate again); and only what any
        # request object with a WSGI ``META`` has, so that a lane outside DRF can pass its own.
        request = getattr(request, "_request", request)
        meta = request.META
        ip = client_ip(request)
        method = getattr(request, "method", None) or meta.get("REQUEST_METHOD", "")
        path = getattr(request, "path", None) or meta.get("PATH_INFO", "")
        user_agent = meta.get("HTTP_USER_AGENT", "")
        original_uri = meta.get("HTTP_X_ORIGINAL_URI", "")
    window = int(time.time() // TOUCH_WINDOW_SECONDS)
    if not _first_in_window(api_key.pk, ip, window):
        return None
    data = {
        "key_id": str(api_key.pk),
        "key_prefix": api_key.key_prefix,
        "name": api_key.name,
        "owner_id": api_key.user_id,
        "channel": channel,
        "ip": ip,
        "method": _cut(method),
        "path": _cut(path),
        "user_agent": _cut(user_agent),
        "window_seconds": TOUCH_WINDOW_SECONDS,
    }
    if original_uri:  # a reverse proxy's sub-request: the request it asked about
        data["original_uri"] = _cut(original_uri)
    return audit_record(
        event_type=TOUCH_EVENT,
        outcome=AuditEvent.Outcome.FAILURE,
        target=api_key,
        tenant_id=api_key.tenant_id,
        ip=ip,
        data=data,
    )


def canary_touches(*, api_key: ApiKey, limit: int = 50):
    """The latest recorded touches of ``api_key``, newest first (for its page)."""
    return AuditEvent.objects.filter(
        event_type=TOUCH_EVENT, target_type="apikeys.apikey", target_id=str(api_key.pk)
    )[:limit]


def canary_touch_count(*, api_key: ApiKey) -> int:
    return AuditEvent.objects.filter(
        event_type=TOUCH_EVENT, target_type="apikeys.apikey", target_id=str(api_key.pk)
    ).count()


def reset() -> None:
    """Forget what this process recorded (tests)."""
    global _recorded_window
    with _lock:
        _recorded.clear()
        _recorded_window = 0


def _first_in_window(key_id, ip, window: int) -> bool:
    """True for the first touch of this key from this IP in ``window``, on any node."""
    global _recorded_window
    touch = (key_id, ip)
    with _lock:
        if window != _recorded_window:
            _recorded.clear()
            _recorded_window = window
        if touch in _recorded:
            return False
        if len(_recorded) < MAX_REMEMBERED:
            _recorded.add(touch)
    try:
        return bool(cache.add(f"audit:canary:{key_id}:{ip}:{window}", 1, 2 * TOUCH_WINDOW_SECONDS))
    except CACHE_ERRORS:
        return True  # this process remembers it; the shared cache cannot say more


def _cut(value: str) -> str:
    return (value or "")[:MAX_FIELD_LENGTH]
