"""Count a request against its rate limits and record its usage, in one trip to the cache.

Windows and counter names are django-ratelimit's, computed here as its documentation describes
them (``window_end``, ``counter_key``): a fixed window per bucket with a per-bucket jitter, so
on a shared cache ``django_ratelimit.core.get_usage`` reads exactly the counters this module
writes, and the ``@ratelimit`` decorators and this meter share them. What this
module adds is the trip: on Redis one Lua call increments every window, and — only when the
request is admitted — the key's usage buffer, and reads the key's generation number (see
``metering.verified``). django-ratelimit's own ``get_usage`` would spend two round trips per
window. On the embedded default the counters live in this process's memory
(``backends.MemoryBackend``), which is all a single process needs.
"""

import hashlib
import logging
import re
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.utils.module_loading import import_string

from core.cache import CACHE_ERRORS, Tally
from metering import backends, keys
from metering import credits as credits_

logger = logging.getLogger(__name__)

GROUP = "keyward.meter"


class Window(NamedTuple):  # a tuple: hashed (for the memoized names) at C speed
    limit: int
    period: int  # seconds

    @property
    def rate(self) -> str:
        return f"{self.limit}/{self.period}s"


@dataclass(frozen=True, slots=True)
class Meter:
    """What to count for one request."""

    bucket: str  # "key:<id>", "user:<id>", "client:<id>", "ip:<address>"
    windows: tuple[Window, ...]
    usage_key_id: str | None = None  # the API key whose usage an admitted request adds to
    # With ``usage_key_id``: the key's own rules refused this call; it is recorded as refused.
    usage_refused: bool = False
    generation_of: str | None = None  # the verified record (key or user) whose generation to read
    credits: "credits_.Credits | None" = None  # the key's credits, spent in the same trip
    # The entity whose Cluster hash slot the trip runs in (``metering.keys``); default: bucket.
    tag: str | None = None


class Reading(NamedTuple):  # one per request: a tuple is built at C speed, a frozen dataclass not
    admitted: bool
    limit: int
    remaining: int
    reset: int  # seconds until the deciding window ends
    retry_after: int
    policy: str  # the RateLimit-Policy header
    generation: str | None = None
    stale: bool = False  # the caller's cached generation was out of date; nothing was counted
    deciding: str = ""  # the deciding window's policy name, a Structured Field String
    tally: int | None = None  # the tally's count, when ``take`` was given one
    credits: backends.CreditState | None = None  # the key's balance after this request

    @property
    def credits_exhausted(self) -> bool:
        """Refused for the key's credits: nothing else was counted or spent."""
        return self.credits is not None and self.credits.exhausted

    def headers(self) -> dict[str, str]:
        """X-RateLimit-* and the RateLimit-Policy / RateLimit pair of the IETF draft (-11)."""
        return dict(zip(HEADER_NAMES, self.header_values(), strict=True))

    def header_values(self) -> tuple[str, str, str, str, str]:
        """The values of ``HEADER_NAMES``, in that order.

        ``RateLimit`` names the deciding window (the policy nearest to exhaustion) with its
        remaining quota ``r`` and the seconds ``t`` until it admits again, e.g.
        ``"minute";r=59;t=55``.
        """
        remaining, reset = str(self.remaining), str(self.reset)
        return (
            str(self.limit),
            remaining,
            reset,
            self.policy,
            f"{self.deciding};r={remaining};t={reset}",
        )


HEADER_NAMES = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
)


class MeterUnavailable(Exception):
    """The shared cache could not be reached; the caller applies its surface's policy.

    ``maybe_counted``: the request was sent and timed out, so a stalled Redis may still count
    it when it resumes; recording its use elsewhere as well would count it twice.
    """

    def __init__(self, message: str = "", *, maybe_counted: bool = False):
        super().__init__(message)
        self.maybe_counted = maybe_counted


def note_meter_unavailable(exc: Exception) -> None:
    """Count and log a trip to the shared cache that failed (the caller then fails open)."""
    from core.metrics import METER_UNAVAILABLE

    METER_UNAVAILABLE.inc()
    logger.warning("rate limits not applied, shared cache unavailable: %s", type(exc).__name__)


def take(
    meter: Meter,
    *,
    ip: str | None = None,
    expected_generation: str | None = None,
    tally: Tally | None = None,
    cost: int = 1,
    shadow: backends.Shadow | None = None,
) -> Reading:
    """Count one request under ``meter`` and return the verdict.

    With ``expected_generation``, nothing is counted unless the key's generation still equals
    it; the reading is then ``stale`` and the caller reloads the key and takes again.
    ``tally`` is one more counter to increment in the same trip, whatever the verdict (the
    audit's refused keys); ``cost`` is what an admitted request spends of the key's credits.
    A key out of credits is refused (``credits_exhausted``) before anything is counted.
    ``shadow`` (``apikeys.shadow``) rides the same trip: the key's route and its proposals'
    verdicts.
    """
    now = time.time()
    tag = meter.tag or meter.bucket
    plan = _plan_at(meter.bucket, meter.windows, int(now), tag)
    spend = credits_.spend_of(meter.credits, now, cost) if meter.credits is not None else None
    try:
        counted = backends.active().count(
            plan.counters,
            usage_key_id=meter.usage_key_id,
            refused=meter.usage_refused,
            generation_of=meter.generation_of,
            ip=ip,
            now=now,
            expected_generation=expected_generation,
            tally=tally,
            credits=spend,
            tag=tag,
            shadow=shadow,
        )
    except CACHE_ERRORS as exc:
        raise MeterUnavailable(str(exc), maybe_counted=getattr(exc, "maybe_run", False)) from exc
    counts, generation, tally_count, credit_state = counted
    if counts is None:
        if credit_state is not None:  # out of credits: refused, nothing counted
            return Reading(False, 0, 0, 0, 0, "", generation, False, "", tally_count, credit_state)
        return Reading(False, 0, 0, 0, 0, "", generation, stale=True)
    reading = _reading(plan, counts, generation)
    if tally_count is not None or credit_state is not None:
        reading = reading._replace(tally=tally_count, credits=credit_state)
    return reading


def peek(meter: Meter) -> Reading:
    """The current state of ``meter``'s windows without counting a request."""
    plan = _plan_at(meter.bucket, meter.windows, int(time.time()), meter.tag or meter.bucket)
    try:
        counts = backends.active().peek(plan.counters)
    except CACHE_ERRORS as exc:
        raise MeterUnavailable(str(exc)) from exc
    return _reading(plan, counts, None)


class Plan(NamedTuple):
    """What counting under one bucket means during one second."""

    counters: tuple[backends.Counter, ...]  # one per window that limits, with its limit
    waits: tuple[int, ...]  # per counter: seconds from this second until its next window opens
    policy: str  # the RateLimit-Policy header
    names: tuple[str, ...]  # per counter: its policy name, as the RateLimit header names it


# Windows move at most once a second, so what counting under a bucket means is worked out once
# per bucket and second.
@lru_cache(maxsize=4096)
def _plan_at(bucket: str, windows: tuple[Window, ...], second: int, tag: str | None = None) -> Plan:
    """A counter per window that limits, named as django-ratelimit names it, and the policy.

    On a Redis Cluster the names carry ``tag`` (``metering.keys.tagged``), so the counters share
    a hash slot with the rest of the trip.
    """
    windows = tuple(w for w in windows if w.limit is not None)
    counters, waits = [], []
    for window in windows:
        end = window_end(bucket, window.period, second)
        key = keys.tagged(tag or bucket, counter_key(GROUP, end, window, bucket))
        counters.append(backends.Counter(key, window.limit, window.period + 1))
        waits.append(_seconds_until_next_window(end, second))
    names = tuple(policy_name(w.period) for w in windows)
    policy = ", ".join(
        f"{name};q={w.limit};w={w.period}" for name, w in zip(names, windows, strict=True)
    )
    return Plan(tuple(counters), tuple(waits), policy, names)


def window_end(value: str, period: int, second: int) -> int:
    """The last second of ``value``'s window of ``period`` seconds that contains ``second``.

    django-ratelimit's fixed windows: aligned on the epoch and shifted by ``crc32(value) %
    period``, so that the windows of different buckets do not all end at once.
    """
    if period == 1:
        return second
    end = second - second % period + zlib.crc32(value.encode()) % period
    return end + period if end < second else end


def counter_key(group: str, end: int, window: Window, value: str) -> str:
    """django-ratelimit's cache key for the counter of ``value`` in the window ending at ``end``.

    Its documented settings shape it: ``RATELIMIT_CACHE_PREFIX`` (``rl:``) and
    ``RATELIMIT_HASH_ALGORITHM`` (SHA-256) over the group, the rate as ``<n>/<seconds>s``, the
    value and the window's end; ``tests/metering/test_meter.py`` compares it with its own.
    """
    prefix = getattr(settings, "RATELIMIT_CACHE_PREFIX", "rl:")
    algorithm = getattr(settings, "RATELIMIT_HASH_ALGORITHM", hashlib.sha256)
    if isinstance(algorithm, str):
        algorithm = import_string(algorithm)
    return prefix + algorithm(f"{group}{window.rate}{value}{end}".encode()).hexdigest()


_RATE = re.compile(r"(\d+)/(\d*)([smhd])?")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def meter_for_ip(ip: str) -> Meter:
    """The anonymous bucket of a client address (``KEYWARD_ANON_RATE_PER_IP``): what a caller
    without a credential, and every refused credential, is counted in."""
    return Meter(bucket=f"ip:{ip}", windows=(parse_rate(settings.KEYWARD_ANON_RATE_PER_IP),))


def parse_rate(rate: str) -> Window:
    """A rate in django-ratelimit's notation (``"60/m"``, ``"100/5m"``, ``"10/s"``) as a window."""
    match = _RATE.match(rate)
    if match is None:
        raise ValueError(f"not a rate: {rate!r}")
    count, multiple, unit = match.groups()
    return Window(int(count), _UNIT_SECONDS[(unit or "s").lower()] * int(multiple or 1))


_PERIOD_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


def policy_name(period: int) -> str:
    """A window's name in the rate-limit headers: a quoted Structured Field String.

    draft-ietf-httpapi-ratelimit-headers-11 makes each policy a String with parameters
    (``"minute";q=60;w=60``); ``RateLimit`` names the policy it reports on the same way.
    """
    return f'"{_PERIOD_NAMES.get(period, f"{period}s")}"'


def _seconds_until_next_window(ends_at: int, second: int) -> int:
    """Whole seconds a refused client waits, during ``second``, before the next window admits it.

    django-ratelimit's window named ``ends_at`` still counts requests made during that second,
    so the next window opens at ``ends_at + 1``. Counted in whole seconds from the start of the
    current one, a client that waits exactly ``Retry-After`` seconds is admitted, never refused
    once more (``ceil(ends_at + 1 - now)`` for any ``now`` within ``second``).
    """
    return max(1, ends_at + 1 - second)


def _reading(plan: Plan, counts, generation) -> Reading:
    if not plan.counters:
        return Reading(True, 0, 0, 0, 0, "", generation)
    # The deciding window is the one with the least room left (ties: the shorter one); a
    # refused request waits for the last of the windows it exhausted. One pass: this runs on
    # every request.
    limit = least_room = reset = deciding = None
    retry_after = 0
    for counter, wait, name, count in zip(
        plan.counters, plan.waits, plan.names, counts, strict=True
    ):
        room = counter.limit - count
        if room < 0:
            retry_after = max(retry_after, wait)
            room = 0
        if least_room is None or room < least_room:
            limit, least_room, reset, deciding = counter.limit, room, wait, name
    return Reading(
        retry_after == 0,  # admitted
        limit,
        least_room,  # remaining
        reset,
        retry_after,
        plan.policy,
        generation,
        False,  # stale
        deciding,
    )
