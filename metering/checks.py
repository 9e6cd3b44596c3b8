"""Refuse to start with rate-limit settings that would fail on every request; warn at deploy
time about a Redis that would lose usage and revocations when it restarts.

The limits are read at call time (STYLE: settings inside functions), so a malformed
``KEYWARD_KEY_TYPE_RATE_LIMITS`` would otherwise surface as a 500 on each keyed request. The
process checks them once, when the app registry is ready, and stops with a message naming the
variable instead.
"""

import re

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from core.cache import CACHE_ERRORS
from identity.limits import DEFAULT_TYPE_RATE_LIMITS, WINDOWS

RATE_SETTINGS = (
    "KEYWARD_ANON_RATE_PER_IP",
    "KEYWARD_LOGIN_RATE_PER_EMAIL",
    "KEYWARD_LOGIN_RATE_PER_IP",
    "KEYWARD_REGISTER_RATE_PER_IP",
    "KEYWARD_BOOTSTRAP_RATE_PER_IP",
    "KEYWARD_KEY_CREATE_RATE_PER_USER",
    "KEYWARD_OAUTH_TOKEN_RATE_PER_CLIENT",
    "KEYWARD_OAUTH_TOKEN_RATE_PER_IP",
)
# django-ratelimit's syntax, whole: its own parser ignores a trailing typo ("5/x" is 5/s).
RATE_SYNTAX = re.compile(r"\d+/\d*[smhd]", re.IGNORECASE)
EXAMPLE = '{"per_minute": 600, "per_hour": 10000}'


def validate_rate_limit_settings() -> None:
    """Raise ``ImproperlyConfigured`` naming the first malformed rate-limit setting."""
    type_limits = getattr(settings, "KEYWARD_KEY_TYPE_RATE_LIMITS", None) or {}
    if not isinstance(type_limits, dict):
        raise ImproperlyConfigured(
            "KEYWARD_KEY_TYPE_RATE_LIMITS must be a JSON object of key types, e.g. "
            f'{{"production": {EXAMPLE}}}; got {type(type_limits).__name__}.'
        )
    known = sorted(str(key_type) for key_type in DEFAULT_TYPE_RATE_LIMITS)
    for key_type, limits in type_limits.items():
        if key_type not in known:
            raise ImproperlyConfigured(
                f"KEYWARD_KEY_TYPE_RATE_LIMITS: unknown key type {key_type!r} "
                f"(known: {', '.join(known)})."
            )
        _check_windows(f"KEYWARD_KEY_TYPE_RATE_LIMITS[{key_type!r}]", limits)
    _check_windows(
        "KEYWARD_USER_RATE_LIMITS", getattr(settings, "KEYWARD_USER_RATE_LIMITS", None) or {}
    )
    for name in RATE_SETTINGS:
        rate = getattr(settings, name, None)
        if rate is None:
            continue
        if not isinstance(rate, str) or not RATE_SYNTAX.fullmatch(rate):
            raise ImproperlyConfigured(
                f"{name} must be a django-ratelimit rate such as 60/m or 1000/h; got {rate!r}."
            )


def _check_windows(name: str, limits) -> None:
    if not isinstance(limits, dict):
        raise ImproperlyConfigured(
            f"{name} must be a JSON object such as {EXAMPLE}; got {type(limits).__name__}."
        )
    for window, value in limits.items():
        if window not in WINDOWS:
            raise ImproperlyConfigured(
                f"{name}: unknown window {window!r} (known: {', '.join(WINDOWS)})."
            )
        # bool is an int in Python; JSON true is not a limit.
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ImproperlyConfigured(
                f"{name}[{window!r}] must be a positive integer or null (no limit); got {value!r}."
            )
        if value is not None and value < 1:
            raise ImproperlyConfigured(
                f"{name}[{window!r}] must be at least 1 (null means no limit); got {value!r}."
            )


REDIS_PERSISTS_NOTHING = "metering.W001"


def check_redis_persistence(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``check --deploy``: warn when the Redis in use keeps nothing across a restart.

    Usage not yet flushed and the rate-limit windows live there (SPEC §10); revocations are
    safe either way, as a Redis that comes back empty retires every cached record. Asked with
    ``CONFIG GET``; a Redis that refuses CONFIG (managed services often do) or does not answer
    is not judged.
    """
    from metering import backends

    backend = backends.active()
    if not isinstance(backend, backends.RedisBackend):
        return []
    try:
        config = backend.persistence_config()
    except CACHE_ERRORS:
        return []
    appendonly = str(config.get("appendonly", "")).lower()
    save = str(config.get("save", "")).strip()
    if appendonly == "yes" or (save and save != '""'):
        return []
    return [
        checks.Warning(
            "Redis persists nothing (appendonly no, no save points): a Redis restart loses "
            "the usage not yet moved into the database, and resets every rate-limit window.",
            hint="Run Redis with 'appendonly yes' and 'appendfsync always' (or 'everysec', "
            "at most about a second of usage lost); see docs/deploy.md.",
            id=REDIS_PERSISTS_NOTHING,
        )
    ]
