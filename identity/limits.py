"""Rate limits: the ``Limit`` any room declares, and the limits of API keys and people.

The generic part: rate limits on anonymous entry points, counted by django-ratelimit in the
shared cache.

``rate_limits_hit`` counts one request in one or more buckets and raises 429
(``RateLimitExceeded``, with ``retry_after`` from the longest wait) when any is over its rate.
When the cache cannot count, it raises 503 (``ServiceUnavailable``): login and registration fail
closed, because whoever can knock the cache over must not win unlimited password guesses.
Any app can declare its own ``Limit`` and call the same function.

Key types (SPEC §3) have default limits: ``KEYWARD_KEY_TYPE_RATE_LIMITS`` (JSON) overrides them
per type, field by field, and a key's own ``rate_limit`` overrides its type's, again field by
field; ``None`` for a field means no limit in that window.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django_ratelimit.core import get_usage

from core.cache import CACHE_ERRORS
from core.errors import RateLimitExceeded, ServiceUnavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limit:
    """One bucket: a group name, the setting that holds its rate, and what it is counted by.

    ``key`` is ``"ip"`` (the client IP from ``core.client_ip``, through RATELIMIT_IP_META_KEY) or a
    callable ``(group, request) -> str``. The rate is read from settings on every call, so a
    changed setting applies at once.
    """

    group: str
    rate_setting: str
    key: str | Callable = "ip"

    def rate(self, group, request) -> str:
        return getattr(settings, self.rate_setting)


def rate_limits_hit(request, *limits: Limit) -> None:
    """Count ``request`` in every bucket of ``limits``; raise 429 if any is over, 503 if unsure.

    Every bucket is counted even when an earlier one is already over, so an attempt always costs
    the caller in each of them.
    """
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    retry_after = 0
    exceeded = False
    for limit in limits:
        try:
            usage = get_usage(
                request, group=limit.group, key=limit.key, rate=limit.rate, increment=True
            )
        except CACHE_ERRORS as exc:
            logger.warning(
                "Rate-limit cache unavailable for %s: %s", limit.group, type(exc).__name__
            )
            raise ServiceUnavailable() from exc
        if usage is None:  # RATELIMIT_ENABLE is off
            continue
        if usage["time_left"] < 0:
            # django-ratelimit's answer when the cache returned no count (RATELIMIT_FAIL_OPEN off).
            logger.warning("Rate-limit cache returned no count for %s", limit.group)
            raise ServiceUnavailable()
        if usage["should_limit"]:
            exceeded = True
            retry_after = max(retry_after, usage["time_left"])
    if exceeded:
        raise RateLimitExceeded(retry_after)


# --- API keys' limits (SPEC §3) ---

DEFAULT_TYPE_RATE_LIMITS = {
    "development": {"per_minute": 60, "per_hour": 1000},
    "production": {"per_minute": 600, "per_hour": 10000},
    "restricted": {"per_minute": 60, "per_hour": None},
    "admin": {"per_minute": 600, "per_hour": None},
    # Never counted on its own (every use is refused first, in the caller's anonymous bucket);
    # named so that every type has limits to show.
    "canary": {"per_minute": 60, "per_hour": 1000},
}
WINDOWS = ("per_minute", "per_hour")


def type_rate_limit(key_type: str) -> dict:
    """The default limits of ``key_type``, with the settings' overrides applied."""
    limits = dict(DEFAULT_TYPE_RATE_LIMITS.get(key_type, DEFAULT_TYPE_RATE_LIMITS["production"]))
    limits.update((settings.KEYWARD_KEY_TYPE_RATE_LIMITS or {}).get(str(key_type), {}))
    return {window: limits.get(window) for window in WINDOWS}


def effective_rate_limit(api_key) -> dict:
    """The limits a key is counted under: its own override, else its type's default."""
    limits = type_rate_limit(api_key.key_type)
    for window, value in (api_key.rate_limit or {}).items():
        if window in WINDOWS:
            limits[window] = value
    return limits


def raises_above_default(key_type: str, rate_limit: dict | None) -> bool:
    """True when ``rate_limit`` allows more than the type's default in some window.

    A window the default leaves unlimited cannot be raised; a window set to ``None`` (no limit)
    where the default has one is a raise.
    """
    if not rate_limit:
        return False
    default = type_rate_limit(key_type)
    for window in WINDOWS:
        if window not in rate_limit:
            continue
        wanted, allowed = rate_limit[window], default[window]
        if allowed is None:
            continue
        if wanted is None or wanted > allowed:
            return True
    return False
