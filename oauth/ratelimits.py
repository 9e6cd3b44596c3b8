"""Rate limits on ``POST /oauth2/token``: per client IP, and per client_id presented.

Counted by django-ratelimit in the shared cache through ``identity.limits.rate_limits_hit``
(429 ``RateLimitExceeded`` over a limit, 503 ``ServiceUnavailable`` when the cache cannot
count: fail closed). The rates are read from settings on every call, with defaults, so
``KEYWARD_OAUTH_TOKEN_RATE_PER_CLIENT`` and ``KEYWARD_OAUTH_TOKEN_RATE_PER_IP`` need not be set.
The per-client bucket counts the client_id as presented, before the secret is checked: a caller
who knows a client_id can exhaust that client's bucket, as with login's per-email bucket, but
never mint more tokens than the rate allows.
"""

from dataclasses import dataclass

from django.conf import settings

from identity.limits import Limit, rate_limits_hit
from oauth.selectors import parse_client_id

DEFAULT_RATE_PER_CLIENT = "60/m"
DEFAULT_RATE_PER_IP = "300/m"


@dataclass(frozen=True, slots=True)
class DefaultedLimit(Limit):
    """A ``Limit`` whose rate setting may be absent: then ``default_rate`` applies."""

    default_rate: str = ""

    def rate(self, group, request) -> str:
        return getattr(settings, self.rate_setting, self.default_rate)


TOKEN_PER_IP = DefaultedLimit(
    group="oauth.token.ip",
    rate_setting="KEYWARD_OAUTH_TOKEN_RATE_PER_IP",
    default_rate=DEFAULT_RATE_PER_IP,
)


def token_rate_limit_ip(request) -> None:
    """Count a token request against the client IP's bucket (every request, malformed too)."""
    rate_limits_hit(request, TOKEN_PER_IP)


def token_rate_limit_client(request, *, client_id: str) -> None:
    """Count a token request against the bucket of the client_id it presents."""
    # Every spelling of a UUID ("{...}", upper case, no dashes) counts in the same bucket.
    parsed = parse_client_id(client_id)
    key = str(parsed) if parsed is not None else client_id[:64]
    rate_limits_hit(
        request,
        DefaultedLimit(
            group="oauth.token.client",
            rate_setting="KEYWARD_OAUTH_TOKEN_RATE_PER_CLIENT",
            key=lambda group, request: key,
            default_rate=DEFAULT_RATE_PER_CLIENT,
        ),
    )
