"""Expiry and rotation that look at traffic (SPEC §12).

- A key *expiring soon and in use* expires within ``KEYWARD_EXPIRY_WARNING_DAYS`` (7) and was
  used within as many days: flagged on the key object (``expiring_soon_in_use``), the key list,
  the dashboard and ``listapikeys``; its owner is told once (``api_key_warn_expiring``: an audit
  event ``api_key.expiring``, which ``notifications`` turns into an email and webhooks).
- A rotation may end its grace early: with ``end_grace_when_idle_seconds`` the old key stops
  once it has served no request for that long (``api_key_end_idle_graces``).

Both are sweeps, run by the task worker on a schedule or from cron (docs/notifications.md), so
nothing here costs the request path anything.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.usage import usage_flush_quietly
from audit.services import audit_record
from metering.verified import narrowing_change

# Usage reaches the database to the minute (``apikeys.usage``): a use recorded at 12:04 may have
# happened up to 12:04:59, so quiet is counted from the end of that minute.
USAGE_RESOLUTION = timedelta(seconds=60)


def warning_window() -> timedelta:
    return timedelta(days=settings.KEYWARD_EXPIRY_WARNING_DAYS)


def expiring_soon_in_use_filter(now) -> Q:
    """``ApiKey.expiring_soon_in_use`` as a query."""
    window = warning_window()
    return Q(
        is_active=True,
        expires_at__gt=now,
        expires_at__lte=now + window,
        last_used_at__gte=now - window,
    )


def api_key_warn_expiring(*, now=None) -> int:
    """Tell the owner of every key expiring soon and in use, once per key; return how many.

    The claim is a conditional UPDATE, so two sweeps running at once warn each key once.
    """
    now = now or timezone.now()
    window = warning_window()
    soon = ApiKey.objects.filter(
        is_active=True,
        expires_at__gt=now,
        expires_at__lte=now + window,
        expiry_warning_sent_at__isnull=True,
    )
    usage_flush_quietly(key_ids=list(soon.values_list("pk", flat=True)))
    warned = 0
    for api_key in soon.filter(expiring_soon_in_use_filter(now)).select_related("user"):
        claimed = ApiKey.objects.filter(pk=api_key.pk, expiry_warning_sent_at__isnull=True).update(
            expiry_warning_sent_at=now
        )
        if not claimed:
            continue
        audit_record(
            event_type="api_key.expiring",
            target=api_key,
            tenant_id=api_key.tenant_id,
            data={
                "key_prefix": api_key.key_prefix,
                "name": api_key.name,
                "expires_at": api_key.expires_at.isoformat(),
                "last_used_at": api_key.last_used_at.isoformat(),
                "window_days": window.days,
            },
        )
        warned += 1
    return warned


def quiet_since(old: ApiKey, rotated_at):
    """When the rotated-out key last served a request (to the end of its minute), or rotated."""
    if old.last_used_at is None:
        return rotated_at
    return max(rotated_at, old.last_used_at + USAGE_RESOLUTION)


def api_key_end_idle_graces(*, now=None) -> int:
    """End the grace of every rotated-out key that has been quiet long enough; return how many.

    The old key's expiry is brought forward to ``now`` (a narrowing change: every node refuses
    it before this returns) and ``api_key.grace_ended_idle`` is recorded.
    """
    now = now or timezone.now()
    in_grace = ApiKey.objects.filter(
        end_grace_when_idle_seconds__isnull=False,
        is_active=True,
        expires_at__gt=now,
        rotated_to__isnull=False,
    )
    usage_flush_quietly(key_ids=list(in_grace.values_list("pk", flat=True)))
    ended = 0
    for old in in_grace.select_related("rotated_to"):
        quiet_from = quiet_since(old, old.rotated_to.created_at)
        if now - quiet_from < timedelta(seconds=old.end_grace_when_idle_seconds):
            continue
        if _end_grace(old, now=now, quiet_from=quiet_from):
            ended += 1
    return ended


@narrowing_change()
def _end_grace(old: ApiKey, *, now, quiet_from) -> bool:
    old = ApiKey.objects.select_for_update().get(pk=old.pk)
    if not old.is_active or old.is_expired(now):
        return False
    old.expires_at = now
    old.save(update_fields=["expires_at"])  # the signal retires the cached key everywhere
    audit_record(
        event_type="api_key.grace_ended_idle",
        target=old,
        tenant_id=old.tenant_id,
        data={
            "key_prefix": old.key_prefix,
            "end_grace_when_idle_seconds": old.end_grace_when_idle_seconds,
            "quiet_since": quiet_from.isoformat(),
        },
    )
    return True
