"""Prometheus metrics of every request: route and status, latency, authentication outcome.

The outcome is read from what the request already knows (its principal, its answer's code),
so counting it adds no parsing to a request that succeeded.
"""

import json
import time
from functools import lru_cache

from django.conf import settings

from accounts.authentication import ACCESS_COOKIE
from core.metrics import AUTH_OUTCOMES, LATENCY, RATE_LIMIT_HITS, REQUESTS
from core.principal import AuthMethod
from identity import credentials
from metering.throttles import READING_ATTRIBUTE

UNMATCHED = "<unmatched>"
# HTTP's methods (RFC 9110, and PATCH): any other a client invents is counted as one label.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
OTHER_METHOD = "other"
NO_CREDENTIAL = "none"

# Endpoints that exchange a credential in the body for a token or a session: their outcome is
# the answer itself, whatever the request headers carry.
EXCHANGE_METHODS = {
    "api/v1/auth/login": "password",
    "api/v1/auth/refresh": "refresh_token",
    "oauth2/token": AuthMethod.CLIENT_CREDENTIALS,
}

# Which bucket refused a request counted by ``metering``: the principal's, or the client IP's.
BUCKET_OF_METHOD = {
    AuthMethod.API_KEY: "api_key",
    AuthMethod.JWT: "user",
    AuthMethod.SESSION: "user",
    AuthMethod.CLIENT_CREDENTIALS: "service_client",
}


class MetricsMiddleware:
    """Count every request by route and status, its latency, and its authentication outcome.

    Routes are the URL patterns (``api/v1/user/api-keys/<uuid:key_id>``), never raw paths, and
    a method HTTP does not define is ``other``, so the label set stays small whatever clients
    send.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        observe(request, response, match.route if match is not None else UNMATCHED, started)
        return response


def observe(request, response, route: str, started: float) -> None:
    """Count one answered request; also called by the WSGI lane (``config.lane``)."""
    method = request.method if request.method in KNOWN_METHODS else OTHER_METHOD
    _requests(route, method, response.status_code).inc()
    _latency(route).observe(time.perf_counter() - started)
    outcome = auth_outcome(request, response, route)
    if outcome is not None:
        _auth_outcomes(*outcome).inc()
    if response.status_code == 429:
        RATE_LIMIT_HITS.labels(route, rate_limit_bucket(request)).inc()


# A metric's child for a label set never changes: looking it up (validation, a lock) once per
# label set instead of three times per request. Bounded: routes are URL patterns.
@lru_cache(maxsize=4096)
def _requests(route: str, method: str, status: int):
    return REQUESTS.labels(route, method, str(status))


@lru_cache(maxsize=1024)
def _latency(route: str):
    return LATENCY.labels(route)


@lru_cache(maxsize=1024)
def _auth_outcomes(method: str, code: str):
    return AUTH_OUTCOMES.labels(method, code)


def auth_outcome(request, response, route: str) -> tuple[str, str] | None:
    """``(method, code)`` for a request that authenticated or tried to; ``None`` otherwise."""
    status = response.status_code
    if route in EXCHANGE_METHODS and request.method == "POST":
        if status < 400:
            return EXCHANGE_METHODS[route], "valid"
        return EXCHANGE_METHODS[route], _error_code(response) or "refused"
    principal = getattr(request, "auth", None)
    method = getattr(principal, "auth_method", None)
    if method is not None:
        # A known caller refused by the authorization decision (scope, grant, IP, tenant).
        code = _error_code(response) if status in (401, 403) else None
        return method, code or "valid"
    if status == 401:
        return _presented_method(request), _error_code(response) or "authentication_failed"
    if status == 403 and (code := _error_code(response)) in REFUSED_BEFORE_USE:
        return _presented_method(request), code
    return None


# Refused while a key authenticated, before it could spend anything (``apikeys.authentication``):
# the request has no principal, but it presented a credential that was judged.
REFUSED_BEFORE_USE = frozenset({"ip_not_allowed", "tenant_mismatch"})


def rate_limit_bucket(request) -> str:
    """The kind of bucket behind a 429: a principal's, an IP's, or an endpoint's own limit."""
    reading = getattr(request, READING_ATTRIBUTE, None)
    if reading is None or reading.admitted:
        return "endpoint"  # django-ratelimit's per-endpoint limits: login, register, bootstrap…
    method = getattr(getattr(request, "auth", None), "auth_method", None)
    return BUCKET_OF_METHOD.get(method, "ip")


def _presented_method(request) -> str:
    """Which scheme a refused request tried, read from its headers in the classes' order."""
    meta = request.META
    scheme = credentials.presented_scheme(
        meta.get("HTTP_X_API_KEY"), meta.get("HTTP_AUTHORIZATION")
    )
    if scheme is not None:
        return scheme
    if request.COOKIES.get(ACCESS_COOKIE):
        return AuthMethod.JWT
    if request.COOKIES.get(settings.SESSION_COOKIE_NAME):
        return AuthMethod.SESSION
    return NO_CREDENTIAL


def _error_code(response) -> str | None:
    data = getattr(response, "data", None)
    if data is None:
        data = _json_body(response)
    if isinstance(data, dict):
        # SPEC §8 bodies carry ``code``; RFC 6749 bodies (``/oauth2/token``) carry ``error``.
        code = data.get("code", data.get("error"))
        return str(code) if code is not None else None
    return None


def _json_body(response):
    """The body of a plain ``JsonResponse`` (django-ratelimit's 429, Django's 404 under /api/)."""
    if not response.get("Content-Type", "").startswith("application/json"):
        return None
    if getattr(response, "streaming", False):
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None
