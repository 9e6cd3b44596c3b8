"""Rate limits on anonymous entry points, counted by django-ratelimit in the shared cache.

``rate_limits_hit`` counts one request in one or more buckets and raises 429
(``RateLimitExceeded``, with ``retry_after`` from the longest wait) when any is over its rate.
When the cache cannot count, it raises 503 (``ServiceUnavailable``): login and registration fail
closed, because whoever can knock the cache over must not win unlimited password guesses.
Any app can declare its own ``Limit`` and call the same function.
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


def normalised_email(value) -> str:
    """The email as a rate-limit key: the login form's own normalisation, so case never helps."""
    return value.strip().lower() if isinstance(value, str) else ""


def _email_key(email: str) -> Callable:
    return lambda group, request: email


LOGIN_PER_IP = Limit(group="accounts.login.ip", rate_setting="KEYWARD_LOGIN_RATE_PER_IP")
REGISTER_PER_IP = Limit(group="accounts.register.ip", rate_setting="KEYWARD_REGISTER_RATE_PER_IP")


def _per_email(group: str, email) -> list[Limit]:
    email = normalised_email(email)
    if not email:
        return []
    # SPEC §2 names one per-email rate for login and register; each counts in its own bucket.
    return [Limit(group=group, rate_setting="KEYWARD_LOGIN_RATE_PER_EMAIL", key=_email_key(email))]


def login_rate_limit(request, *, email) -> None:
    """Count a login attempt per client IP and per (normalised) email."""
    rate_limits_hit(request, LOGIN_PER_IP, *_per_email("accounts.login.email", email))


def register_rate_limit(request, *, email) -> None:
    """Count a registration attempt per client IP and per (normalised) email."""
    rate_limits_hit(request, REGISTER_PER_IP, *_per_email("accounts.register.email", email))
