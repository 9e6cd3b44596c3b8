"""Reads of API keys. Every lookup of a key by its secret, or by its id for management, is here."""

import uuid

from django.db.models import QuerySet

from apikeys import crypto
from apikeys.models import ApiKey, ApiKeyDailyUsage
from apikeys.usage import usage_flush_quietly


def api_key_fresh(api_key: ApiKey) -> ApiKey:
    """The key re-read with its buffered usage merged in, so its figures are exact."""
    usage_flush_quietly(key_ids=[api_key.pk])
    api_key.refresh_from_db()
    return api_key


def api_key_get_for_authentication(raw_key: str, *, key_hash: str | None = None) -> ApiKey | None:
    """One indexed probe on the keyed hash; retired peppers are tried only after a miss.

    ``key_hash`` is the raw key's hash under the current pepper, when the caller has it. A key
    found under a retired pepper is re-hashed under the current one then and there, so a pepper
    rotation finishes as keys are used (docs/apikeys.md). This is the one place that holds both
    the raw key and its row, which the re-hash needs.
    """
    current_hash = key_hash or crypto.hash_key(raw_key)
    queryset = ApiKey.objects.select_related("user")
    api_key = queryset.filter(key_hash=current_hash).first()
    if api_key is not None:
        return api_key
    for legacy_hash in crypto.fallback_hashes(raw_key):
        api_key = queryset.filter(key_hash=legacy_hash).first()
        if api_key is not None:
            return api_key_adopt_current_pepper(
                api_key, legacy_hash=legacy_hash, current_hash=current_hash
            )
    return None


def api_key_adopt_current_pepper(api_key: ApiKey, *, legacy_hash: str, current_hash: str):
    """Store ``api_key`` (found under ``legacy_hash``) under ``current_hash``; return it.

    One conditional UPDATE: of concurrent requests with the same key exactly one moves the row,
    and the others find it under the current hash. The returned key carries the current hash,
    so the verified record is cached under the hash every later request presents. A process
    still hashing with the old pepper may hold the key under the old hash: that generation is
    bumped, so it reads the row again (and revocations reach it through the new hash).
    """
    moved = ApiKey.objects.filter(pk=api_key.pk, key_hash=legacy_hash).update(key_hash=current_hash)
    if not moved:
        return ApiKey.objects.select_related("user").filter(key_hash=current_hash).first()
    api_key.key_hash = current_hash  # the update re-reads the legacy hash's record everywhere
    return api_key


def api_key_list(
    *,
    user,
    all_users: bool = False,
    bound_tenant_id=None,
    is_active: bool | None = None,
    tenant_id=None,
    key_type: str | None = None,
) -> QuerySet:
    """The keys a caller manages: their own (``all_users``: everyone's), newest first.

    ``bound_tenant_id`` narrows a tenant-bound caller to its own tenant's keys.
    """
    keys = ApiKey.objects.select_related("user")
    if not all_users:
        keys = keys.filter(user=user)
    if bound_tenant_id is not None:
        keys = keys.filter(tenant_id=bound_tenant_id)
    if is_active is not None:
        keys = keys.filter(is_active=is_active)
    if tenant_id is not None:
        keys = keys.filter(tenant_id=tenant_id)
    if key_type:
        keys = keys.filter(key_type=key_type)
    return keys


def api_key_get(*, key_id, user, all_users: bool = False, bound_tenant_id=None) -> ApiKey | None:
    """A key the caller manages, by id (from a URL: anything); ``None`` reads as 404."""
    try:
        key_id = uuid.UUID(str(key_id))
    except ValueError:
        return None
    return (
        api_key_list(user=user, all_users=all_users, bound_tenant_id=bound_tenant_id)
        .filter(pk=key_id)
        .first()
    )


def api_key_get_by_id_or_prefix(value: str) -> ApiKey | None:
    """For management commands: a key by its id, or by its unique 12-character prefix."""
    try:
        return ApiKey.objects.select_related("user").filter(pk=uuid.UUID(value)).first()
    except ValueError:
        matches = list(ApiKey.objects.select_related("user").filter(key_prefix=value)[:2])
        return matches[0] if len(matches) == 1 else None


def daily_usage(*, api_key, days: int, today) -> list[dict]:
    """Calls per UTC day for the last ``days`` days, oldest first, zeros included.

    ``count``: served; ``limited``: over the rate limit; ``refused``: refused by the key's rules.
    """
    from datetime import timedelta

    start = today - timedelta(days=days - 1)
    rows = {
        day: (count, limited, refused)
        for day, count, limited, refused in ApiKeyDailyUsage.objects.filter(
            api_key=api_key, date__gte=start
        ).values_list("date", "count", "limited_count", "refused_count")
    }
    series = []
    for n in range(days):
        day = start + timedelta(days=n)
        count, limited, refused = rows.get(day, (0, 0, 0))
        series.append({"date": day, "count": count, "limited": limited, "refused": refused})
    return series
