"""Rate limits of API keys: the type defaults of SPEC §3, and a key's effective limits.

``KEYWARD_KEY_TYPE_RATE_LIMITS`` (JSON) overrides the defaults per type, field by field. A key's
own ``rate_limit`` overrides its type's, again field by field; ``None`` for a field means no
limit in that window.
"""

from django.conf import settings

from accounts.ratelimits import Limit
from apikeys.models import KeyType

DEFAULT_TYPE_RATE_LIMITS = {
    KeyType.DEVELOPMENT: {"per_minute": 60, "per_hour": 1000},
    KeyType.PRODUCTION: {"per_minute": 600, "per_hour": 10000},
    KeyType.RESTRICTED: {"per_minute": 60, "per_hour": None},
    KeyType.ADMIN: {"per_minute": 600, "per_hour": None},
    # Never counted on its own (every use is refused first, in the caller's anonymous bucket);
    # named so that every type has limits to show.
    KeyType.CANARY: {"per_minute": 60, "per_hour": 1000},
}
WINDOWS = ("per_minute", "per_hour")


def key_create_limit(user) -> Limit:
    """Key creations per user: the API and the pages count in this one bucket."""
    return Limit(
        group="apikeys.create.user",
        rate_setting="KEYWARD_KEY_CREATE_RATE_PER_USER",
        key=lambda group, request: str(user.pk),
    )


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
