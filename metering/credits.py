"""Per-key credits (SPEC §12): a balance each admitted request spends, refilled on schedule.

A key with ``credits_remaining`` set has credits; ``None`` means unlimited. The live balance
is the shared cache's (a hash ``credits:<key id>`` of ``remaining`` and the next refill's epoch),
checked and spent in the same per-request script that counts the rate-limit windows
(``metering.backends``: part 1 refuses before anything is counted, part 2 spends once the
request is admitted), so it is exact across processes and nodes and costs no extra trip.

* **Seeding.** When the cache holds no balance (first use, or after Redis lost it), the script
  takes the database's copy, carried by the key's cached record; a change to a key's credits
  writes the new balance into the cache with the change (``store``).
* **Refill** is lazy: a balance whose refill time has passed is set to the refill amount by the
  next request (or read), and the next refill time moves to the start of the next UTC day or
  month. No cron line.
* **Persistence.** The usage flush (``apikeys.usage``) copies the cache's balance into the
  database, so a Redis that loses its data falls back to the last flushed balance: at most one
  flush interval of spending (``KEYWARD_USAGE_FLUSH_SECONDS``) is given back, plus whatever
  Redis's own persistence loses (SPEC §10).
* With the shared cache unreachable, requests are served unlimited (as rate limits are), and
  credits are not spent.
"""

import calendar
import logging
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

from django.db import transaction

from core.cache import CACHE_ERRORS
from metering import backends, keys
from metering.backends import CreditSpend, CreditState

logger = logging.getLogger(__name__)

DAILY, MONTHLY = "daily", "monthly"
INTERVALS = (DAILY, MONTHLY)
MAX_CREDITS = 10**12  # bounded, so a balance always fits Redis's and PostgreSQL's integers
MAX_COST = 10**6  # the most one ``keys/verify`` or introspection call may spend


class Credits(NamedTuple):
    """A key's credits as its record holds them (the seed of the live balance)."""

    key_id: str
    remaining: int
    refill_at: int  # epoch seconds; 0: no refill
    refill_amount: int | None
    interval: str  # "" when there is no refill


def parse_cost(value) -> int:
    """A ``cost`` as sent (``keys/verify``, introspection): an integer 0..``MAX_COST``.

    Raises ``ValueError`` with a sentence for anything else (the caller answers 400).
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"cost must be an integer from 0 to {MAX_COST}.")
    text = str(value).strip()
    if not text.isdigit() or len(text) > 7 or not 0 <= int(text) <= MAX_COST:
        raise ValueError(f"cost must be an integer from 0 to {MAX_COST}.")
    return int(text)


def plan_of(api_key) -> Credits | None:
    """The key's credits, ``None`` when it has none (unlimited)."""
    if api_key.credits_remaining is None:
        return None
    refill_at = api_key.credits_refill_at
    return Credits(
        str(api_key.pk),
        int(api_key.credits_remaining),
        int(refill_at.timestamp()) if refill_at else 0,
        api_key.credits_refill_amount,
        api_key.credits_refill_interval or "",
    )


def spend_of(plan: Credits, now: float, cost: int) -> CreditSpend:
    return CreditSpend(
        plan.key_id,
        plan.remaining,
        plan.refill_at,
        plan.refill_amount if plan.interval else None,
        next_refill_at(plan.interval, int(now)) if plan.interval else 0,
        cost,
    )


def next_refill_at(interval: str, now: int) -> int:
    """The start (UTC) of the day or month after the one holding ``now``, in epoch seconds."""
    return _next_refill_on_day(interval, now // 86400)


@lru_cache(maxsize=8)
def _next_refill_on_day(interval: str, day_number: int) -> int:
    if interval == DAILY:
        return (day_number + 1) * 86400
    day = datetime.fromtimestamp(day_number * 86400, tz=UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0))


def retry_after(state: CreditState, now: float | None = None) -> int | None:
    """Seconds until the refill that lets an exhausted key in again; ``None`` without refill."""
    if not state.refill_at:
        return None
    now = time.time() if now is None else now
    return max(1, int(state.refill_at - now + 0.999))


def remaining(api_key, *, now: float | None = None) -> int | None:
    """The key's balance now, exact across processes; ``None`` for a key without credits."""
    state = credits_state(api_key, now=now)
    return None if state is None else state["remaining"]


def credits_state(api_key, *, now: float | None = None) -> dict | None:
    """The key object's ``credits``: the live balance, the refill and when it comes next.

    One cache read for a key with credits, none for one without (``None``: unlimited).
    """
    plan = plan_of(api_key)
    if plan is None:
        return None
    now = time.time() if now is None else now
    try:
        held = backends.active().credits_peek(plan.key_id, keys.api_key_entity(api_key.key_hash))
    except CACHE_ERRORS:
        held = None
    state, _ = backends.credit_state_now(held, spend_of(plan, now, 0), int(now))
    refill = {"amount": plan.refill_amount, "interval": plan.interval} if plan.interval else None
    refills_at = datetime.fromtimestamp(state.refill_at, tz=UTC) if state.refill_at else None
    return {"remaining": state.remaining, "refill": refill, "refills_at": refills_at}


def initial_refill_at(interval: str | None, *, now: float | None = None) -> datetime | None:
    """A new refill schedule starts with the next UTC day or month."""
    if not interval:
        return None
    now = time.time() if now is None else now
    return datetime.fromtimestamp(next_refill_at(interval, int(now)), tz=UTC)


def store(api_key) -> None:
    """Make the cache's balance the key's new credits: now, and again once the change commits.

    Now, inside the change's transaction: a cache that does not confirm raises
    ``ChangeNotPropagated`` (503, the change rolled back), as for any change that may narrow
    access (SPEC §10). Again after the commit, because a request that read the old row meanwhile
    may have seeded the cache with the old balance.
    """
    from metering.verified import ChangeNotPropagated

    key_id = str(api_key.pk)
    tag = keys.api_key_entity(api_key.key_hash)
    plan = plan_of(api_key)
    state = CreditState(plan.remaining, plan.refill_at) if plan is not None else None
    try:
        backends.active().credits_set(key_id, state, tag)
    except CACHE_ERRORS as exc:
        raise ChangeNotPropagated() from exc

    def again():
        try:
            backends.active().credits_set(key_id, state, tag)
        except CACHE_ERRORS:
            logger.warning("credits of key %s not rewritten after the commit", key_id)

    transaction.on_commit(again)


def persist(key_id: str):
    """The cache's balance of ``key_id``, as the usage flush writes it into the database."""
    return backends.active().credits_peek(str(key_id))
