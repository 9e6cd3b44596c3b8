"""Usage of API keys: buffered in the cache on the request path, moved into the database here.

The server moves it itself (SPEC §10: no cron line is needed): after a response, once
``KEYWARD_USAGE_FLUSH_SECONDS`` have passed since the last time, on every stack — with Redis
any process of any node takes whatever every process buffered, so a dead worker or node leaves
nothing behind that the others do not move. ``usage_flush`` also runs on every read of a key's
figures, so the API, the admin and the pages show exact counts at once, and from
``manage.py flushusage`` (for an idle installation, or by hand).

Each key's buffer is taken atomically (read and cleared in one Lua call) and added to the
database in one transaction; if the transaction fails the buffer is put back. A key's credit
balance is copied into the database by the same flush (``metering.credits``). What can be lost:
with Redis, what Redis itself loses (nothing with ``appendfsync always``, about a second with
``everysec``, everything since the last flush without persistence; a ``FLUSHALL`` empties the
buffer) and a flush killed between its take and its commit (milliseconds). Where the buffer
lives in the server process (no Redis), a clean exit flushes it and a killed process loses up
to one interval.
"""

import logging
import time
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from apikeys.models import ApiKey, ApiKeyDailyUsage
from apikeys.shadow.flush import shadow_flush
from core.cache import CACHE_ERRORS
from metering import backends
from metering.backends import day_of

logger = logging.getLogger(__name__)


def usage_flush(*, key_ids=None) -> int:
    """Move buffered usage of ``key_ids`` (default: every key with some) into the database."""
    backend = backends.active()
    ids = [str(k) for k in key_ids] if key_ids is not None else backend.usage_dirty_ids()
    flushed = 0
    for key_id in ids:
        pending = backend.usage_take(key_id)
        if not (pending.count or pending.limited or pending.refused):
            continue
        try:
            _apply(key_id, pending, credits=backend.credits_peek(key_id))
        except Exception:
            backend.usage_restore(key_id, pending)
            logger.exception("usage flush failed for key %s; buffer restored", key_id)
            raise
        flushed += pending.count
    if key_ids is None:  # a read flushes the figures it shows: usage here, shadow in its own
        shadow_flush_dirty(backend)
    return flushed


def shadow_flush_dirty(backend) -> None:
    """Shadow figures and routes (``apikeys.shadow``) of every key with some, beside usage."""
    for key_id in backend.shadow_dirty_ids():
        shadow_flush(key_id)


def usage_flush_quietly(*, key_ids) -> None:
    """Flush before a read, so it shows exact figures; a cache outage must not break the read.

    Only keys with buffered usage are touched: one set read, then one call per such key.
    """
    try:
        dirty = set(backends.active().usage_dirty_ids())
        usage_flush(key_ids=[k for k in map(str, key_ids) if k in dirty])
    except CACHE_ERRORS:
        logger.warning("usage flush skipped: cache unavailable")


_next_flush_at = 0.0  # monotonic seconds; this process's buffer is flushed when it is due


def _now() -> float:
    return time.monotonic()  # a hook for tests


def usage_flush_when_due(**kwargs) -> None:
    """``request_finished``: move the usage buffer into the database every few seconds.

    Runs after the response has gone, one flush per interval and process, so no request waits
    on it. Every stack: an in-process buffer is this process's; the Redis one is everybody's.
    """
    global _next_flush_at
    interval = settings.KEYWARD_USAGE_FLUSH_SECONDS
    if not interval:
        return
    now = _now()
    if now < _next_flush_at:
        return
    first = _next_flush_at == 0.0
    _next_flush_at = now + interval
    if first:
        return  # the interval starts with the first request
    try:
        usage_flush()
    except CACHE_ERRORS:
        logger.warning("usage flush skipped: cache unavailable")
    except Exception:
        logger.exception("usage flush failed; the buffer is kept for the next one")


def usage_flush_safely() -> None:
    """At exit: flush an in-process buffer without raising (a Redis one outlives the process)."""
    try:
        if backends.active().buffers_in_process:
            usage_flush()
    except Exception:
        logger.exception("usage flush failed; the buffer is kept for the next one")


@transaction.atomic
def _apply(key_id: str, pending: backends.Pending, *, credits=None) -> None:
    """Add ``pending`` to the key's figures; copy the cache's credit balance beside them
    (``metering.credits``: the copy a cache that lost its data is seeded from again)."""
    changes = {"request_count": F("request_count") + pending.count}
    if pending.last_at is not None:
        last_at = datetime.fromtimestamp(pending.last_at - pending.last_at % 60, tz=UTC)
        changes["last_used_at"] = last_at
        changes["last_used_ip"] = pending.last_ip or None
    updated = ApiKey.objects.filter(pk=key_id).update(**changes)
    if not updated:
        return  # the key was deleted meanwhile; its usage goes with it
    if credits is not None:
        ApiKey.objects.filter(pk=key_id, credits_remaining__isnull=False).update(
            credits_remaining=credits.remaining,
            credits_refill_at=(
                datetime.fromtimestamp(credits.refill_at, tz=UTC) if credits.refill_at else None
            ),
        )
    for day in sorted({*pending.days, *pending.limited, *pending.refused}):
        _add_daily(
            key_id,
            date.fromisoformat(day),
            pending.days.get(day, 0),
            limited=pending.limited.get(day, 0),
            refused=pending.refused.get(day, 0),
        )


def _add_daily(key_id: str, day: date, count: int, *, limited: int = 0, refused: int = 0) -> None:
    """Add to the day's row, creating it; a concurrent creator makes us update instead."""
    rows = ApiKeyDailyUsage.objects.filter(api_key_id=key_id, date=day)
    added = {
        "count": F("count") + count,
        "limited_count": F("limited_count") + limited,
        "refused_count": F("refused_count") + refused,
    }
    if rows.update(**added):
        return
    try:
        with transaction.atomic():
            ApiKeyDailyUsage.objects.create(
                api_key_id=key_id,
                date=day,
                count=count,
                limited_count=limited,
                refused_count=refused,
            )
    except IntegrityError:
        rows.update(**added)


def usage_record_direct(key_id, *, ip: str | None, now: float | None = None) -> None:
    """Record one use straight into the database: the path taken while the cache is down."""
    now = time.time() if now is None else now
    _apply(
        str(key_id), backends.Pending(count=1, days={day_of(now): 1}, last_at=int(now), last_ip=ip)
    )
