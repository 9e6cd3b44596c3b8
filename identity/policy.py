"""Which bucket a request is counted in, and under which limits.

* an API key: its own bucket, the key's ``rate_limit`` or its type's default;
* a user by JWT or session: the user's bucket, ``KEYWARD_USER_RATE_LIMITS`` (default: the
  ``production`` key limits);
* a service client: the client's bucket, the ``production`` limits;
* nobody (anonymous, or a failed credential): the client IP's bucket, ``KEYWARD_ANON_RATE_PER_IP``.
"""

from django.conf import settings

from core.principal import AuthMethod, Principal
from identity.limits import effective_rate_limit, type_rate_limit
from metering import credits, keys
from metering.meter import Meter, Window


def meter_for_principal(principal: Principal) -> Meter:
    if principal.auth_method == AuthMethod.API_KEY:
        return meter_for_key(principal.api_key)
    if principal.auth_method == AuthMethod.CLIENT_CREDENTIALS:
        client_id = getattr(principal.service_client, "client_id", "unknown")
        return Meter(bucket=f"client:{client_id}", windows=_windows(type_rate_limit("production")))
    return meter_for_user(principal.user)


def meter_for_user(user) -> Meter:
    """A person's bucket (JWT and session alike), and the user's generation in the same trip."""
    return Meter(
        bucket=f"user:{user.pk}",
        windows=_windows(user_rate_limit()),
        generation_of=cache_key_of_user(user.pk),
    )


def cache_key_of_key(key_hash: str) -> str:
    return keys.api_key_entity(key_hash)


def cache_key_of_user(user_id) -> str:
    return f"user:{user_id}"


def meter_for_key(api_key) -> Meter:
    """A key's bucket; its usage buffer; its generation and credits, in the same trip."""
    cache_key = cache_key_of_key(api_key.key_hash)
    return Meter(
        bucket=f"key:{api_key.pk}",
        windows=_windows(effective_rate_limit(api_key)),
        usage_key_id=str(api_key.pk),
        generation_of=cache_key,
        credits=credits.plan_of(api_key),
        tag=cache_key,  # one Cluster slot for the trip: the generation's (metering.keys)
    )


def user_rate_limit() -> dict:
    return {**type_rate_limit("production"), **(settings.KEYWARD_USER_RATE_LIMITS or {})}


def _windows(limits: dict) -> tuple[Window, ...]:
    windows = []
    if limits.get("per_minute"):
        windows.append(Window(int(limits["per_minute"]), 60))
    if limits.get("per_hour"):
        windows.append(Window(int(limits["per_hour"]), 3600))
    return tuple(windows)
