"""What turns events into notifications, at the cost of a set lookup for everything else.

A ``post_save`` receiver on ``AuditEvent`` rather than a hook inside ``audit_record``: the audit
app stays unaware of notifications (it sits beside ``core``, SPEC's one direction), every event
recorded anywhere (services, the leak response, shadow proposals) is seen, and an event type no
webhook can subscribe to costs one frozenset lookup. A notifiable event enqueues one task in a
savepoint of the transaction that recorded it; the worker does the rest.

``rate_limit.exhausted`` is not recorded per refused request: the first refusal of a key's
window is noticed here — this process remembers the window it reported, and the shared cache's
``add`` makes the first process of all the one that enqueues — and the event is written by
the worker.
"""

import time
from datetime import UTC, datetime

from django.core.cache import cache
from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.models import AuditEvent
from core.cache import CACHE_ERRORS
from core.principal import AuthMethod, principal_of
from metering.throttles import rate_limit_refused
from notifications import tasks
from notifications.models import EVENT_TYPES

NOTIFIABLE = frozenset(EVENT_TYPES)


@receiver(post_save, sender=AuditEvent, dispatch_uid="notifications.audit_event")
def audit_event_recorded(sender, instance, created, **kwargs):
    if created and instance.event_type in NOTIFIABLE:
        tasks.enqueue_quietly(tasks.notify_event, instance.pk)


_reported: dict[str, int] = {}  # key id → the end of the last window this process reported
_REPORTED_MAX = 10_000


@receiver(rate_limit_refused, dispatch_uid="notifications.rate_limit_refused")
def key_rate_limit_refused(sender, request, reading, **kwargs):
    principal = principal_of(request)
    if principal is None or principal.auth_method != AuthMethod.API_KEY:
        return
    key_id = str(principal.api_key.pk)
    # A refused request waits until the window after the deciding one opens: the same instant
    # for every refusal within a window, so it names the window.
    window_ends_at = int(time.time()) + reading.retry_after
    if _reported.get(key_id) == window_ends_at:
        return
    if len(_reported) >= _REPORTED_MAX:
        _reported.clear()
    _reported[key_id] = window_ends_at
    try:
        first = cache.add(
            f"notify:exhausted:{key_id}:{window_ends_at}", 1, timeout=reading.retry_after + 60
        )
    except CACHE_ERRORS:
        return
    if first:
        tasks.enqueue_quietly(
            tasks.record_rate_limit_exhausted,
            key_id,
            reading.limit,
            reading.deciding,
            datetime.fromtimestamp(window_ends_at, tz=UTC).isoformat(),
        )
