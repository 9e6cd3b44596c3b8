"""The one shape of every API error (SPEC §8): ``{"detail": ..., "code": ...}``.

Views raise DRF exceptions carrying a SPEC code, services the domain's (``core.domain_errors``);
``api_exception_handler`` turns both, and Django's own 404/403/ratelimit exceptions, into that
body with the right status.
DRF calls it through ``config.exceptions.exception_handler``, which first does the bookkeeping
of a refused credential (metering and audit, which this module must not import).
"""

import logging
import math
from functools import lru_cache

from django.core.exceptions import BadRequest as DjangoBadRequest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions, status

from core.domain_errors import Conflicting, DomainError, Invalid, NotAllowed, NotFound
from core.renderers import RenderedOnce

logger = logging.getLogger(__name__)

REALM = "keyward"


@lru_cache(maxsize=256)  # a few dozen distinct values: one per refusal text and scope set
def bearer_challenge(
    error: str | None = None, *, description: str | None = None, scope: str | None = None
) -> str:
    """A Bearer ``WWW-Authenticate`` value of RFC 6750 §3; the only place one is written.

    ``description`` is a message of ours, never a credential; characters RFC 6750 does not allow
    in a quoted value (``"``, ``\\``, anything outside printable ASCII) are left out of it.
    """
    challenge = f'Bearer realm="{REALM}"'
    if error:
        challenge += f', error="{error}"'
    if description:
        challenge += f', error_description="{_quotable(description)}"'
    if scope:
        challenge += f', scope="{_quotable(scope)}"'
    return challenge


def _quotable(text: str) -> str:
    """``text`` without what RFC 6750's ``error_description`` and ``scope`` forbid."""
    return "".join(c for c in text if " " <= c <= "~" and c not in '"\\')


# The challenge of every 401 for a Bearer credential (a key, a JWT, a client token), as the
# authentication classes state it; ``api_exception_handler`` adds the error a refusal had.
BEARER_CHALLENGE = bearer_challenge()

# DRF's generic codes, renamed to the contract's.
_CODE_ALIASES = {
    "not_authenticated": "authentication_required",
    "authentication_failed": "invalid_credentials",
    "permission_denied": "insufficient_permissions",
    "throttled": "rate_limit_error",
    "invalid": "validation_error",
}


class BadRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Bad request."
    default_code = "bad_request"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A backing service is unavailable; try again shortly."
    default_code = "service_unavailable"


class InsufficientScope(exceptions.PermissionDenied):
    """403 for a credential whose scopes do not reach the endpoint (any one of ``scopes`` would).

    Answered with RFC 6750's ``insufficient_scope`` challenge naming them; the body's code stays
    the one the decision gave (``insufficient_permissions``).
    """

    def __init__(self, detail, *, code: str, scopes):
        super().__init__(detail, code=code)
        self.scopes = tuple(scopes)


class RateLimitExceeded(exceptions.APIException):
    """429 with ``retry_after`` in the body and a ``Retry-After`` header."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Rate limit exceeded"
    default_code = "rate_limit_error"

    def __init__(self, retry_after: float | int = 60, headers: dict | None = None):
        super().__init__()
        self.retry_after = max(1, math.ceil(retry_after))
        self.extra_headers = headers or {}


class CreditsExhausted(exceptions.APIException):
    """429 ``credits_exhausted``: the key has no credits left (SPEC §12).

    ``retry_after`` is the seconds until the next refill, ``None`` for a key without refill
    (then no ``Retry-After`` header either: waiting will not help).
    """

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "The key has no credits left."
    default_code = "credits_exhausted"

    def __init__(self, retry_after: float | int | None = None):
        super().__init__()
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))


class ServiceUnavailableMiddleware:
    """Pages and the admin: a ``ServiceUnavailable`` a view let through is a 503 page, not a 500.

    DRF views answer with ``api_exception_handler`` before this sees anything; what reaches it
    is a page or an admin form whose service refused, e.g. a revoke the shared cache could not
    confirm (``metering.verified.ChangeNotPropagated``): nothing was changed, so the page says
    to try again.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, ServiceUnavailable):
            return None
        from django.shortcuts import render

        logger.warning("page refused with 503: %s", exception.get_codes())
        response = render(request, "503.html", {"detail": exception.detail}, status=503)
        response["Retry-After"] = "1"
        return response


def error_body(detail, code: str, **extra) -> dict:
    return {"detail": str(detail), "code": code, **extra}


def api_exception_of(error: DomainError) -> exceptions.APIException:
    """The API's answer to a service's refusal (``core.domain_errors``)."""
    if isinstance(error, Invalid):
        return exceptions.ValidationError(error.errors)
    if isinstance(error, NotAllowed):
        return exceptions.PermissionDenied(error.detail, code=error.code)
    if isinstance(error, NotFound):
        return exceptions.NotFound(error.detail, code=error.code)
    if isinstance(error, Conflicting):
        return Conflict(error.detail, code=error.code)
    return BadRequest(error.detail, code=error.code)


def status_of(exc: DomainError | exceptions.APIException) -> int:
    """The HTTP status the API answers ``exc`` with (a page answers with the same)."""
    return api_exception_of(exc).status_code if isinstance(exc, DomainError) else exc.status_code


def api_exception_handler(exc, context):
    """DRF EXCEPTION_HANDLER: every error as ``{detail, code}`` (+ ``errors``/``retry_after``)."""
    if isinstance(exc, DomainError):
        exc = api_exception_of(exc)
    if isinstance(exc, Ratelimited):
        exc = RateLimitExceeded(getattr(exc, "retry_after", 60))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        # Raised while DRF reads the body; left alone, Django answers with its HTML 400 page.
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation | DjangoBadRequest | MultiPartParserError):
        # A form body Django could not read (TooManyFieldsSent, a broken multipart body).
        exc = exceptions.ValidationError(
            {"non_field_errors": ["The request body could not be read."]}
        )
    elif isinstance(exc, exceptions.ParseError):
        # Malformed JSON is bad input like any other: SPEC §8's validation_error, with DRF's
        # message (which says where the JSON broke) as the error.
        exc = exceptions.ValidationError({"non_field_errors": [str(exc.detail)]})
    elif isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable (restarting, failing over): a clear 503, not a 500.
        # Django's connection health checks reconnect on the next request.
        logger.warning("database unavailable: %s", type(exc).__name__)
        exc = ServiceUnavailable()

    # Imported here: rest_framework.views loads the authentication classes, which raise these.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("Invalid input.", "validation_error", errors=flat_errors(errors))
        return response

    detail = exc.detail
    if isinstance(detail, dict):  # e.g. SimpleJWT's {"detail", "code", "messages"}
        detail = detail.get("detail", "Request failed.")
    elif isinstance(detail, list):
        detail = " ".join(str(item) for item in detail)
    code = _code_of(exc)
    extra = {}
    if isinstance(exc, CreditsExhausted):
        extra["retry_after"] = exc.retry_after
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, RateLimitExceeded):
        extra["retry_after"] = exc.retry_after
        response["Retry-After"] = str(exc.retry_after)
        for name, value in exc.extra_headers.items():
            response[name] = value
    elif isinstance(exc, exceptions.Throttled):
        code = "rate_limit_error"
        extra["retry_after"] = math.ceil(exc.wait or 1)
    elif isinstance(exc, InsufficientScope) and exc.scopes:
        response["WWW-Authenticate"] = bearer_challenge(
            "insufficient_scope", scope=" ".join(exc.scopes)
        )
    elif response.status_code == 401 and _refused_bearer(response, code, context.get("view")):
        response["WWW-Authenticate"] = bearer_challenge("invalid_token", description=detail)
    if extra or response.status_code != 401:
        response.data = error_body(detail, code, **extra)
    else:
        response.data = refused_credential_body(str(detail), code)
    return response


_REFUSED_CREDENTIAL_BODIES: dict[tuple[str, str], RenderedOnce] = {}
MAX_REFUSED_CREDENTIAL_BODIES = 64


def refused_credential_body(detail: str, code: str) -> dict:
    """The body of a 401, rendered once: a refused credential is answered with one of a few
    fixed texts, and refusals are what anonymous traffic makes most of (SPEC §9)."""
    body = _REFUSED_CREDENTIAL_BODIES.get((detail, code))
    if body is None:
        body = RenderedOnce(error_body(detail, code))
        if len(_REFUSED_CREDENTIAL_BODIES) < MAX_REFUSED_CREDENTIAL_BODIES:
            _REFUSED_CREDENTIAL_BODIES[(detail, code)] = body  # else: rendered per answer
    return body


def _refused_bearer(response, code: str, view) -> bool:
    """True for a 401 on a credential presented to a protected resource (RFC 6750 §3.1).

    A request with no credential at all gets the bare challenge; so do the endpoints that take
    a password or a refresh token in their body (login, refresh), which authenticate nobody:
    theirs is not a bearer credential.
    """
    return (
        code != "authentication_required"
        and response.get("WWW-Authenticate") == BEARER_CHALLENGE
        and bool(getattr(view, "authentication_classes", None))
    )


FAILED_KEY_CODES = frozenset({"invalid_api_key", "api_key_disabled", "api_key_expired"})


def code_of(exc: exceptions.APIException) -> str:
    """The SPEC §8 code an exception answers with."""
    return _code_of(exc)


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, dict):
        codes = codes.get("code", exc.default_code)
    if isinstance(codes, list):
        codes = codes[0] if codes else exc.default_code
    code = str(codes)
    return _CODE_ALIASES.get(code, code)


def flat_errors(errors, prefix: str = "") -> dict[str, list[str]]:
    """DRF's error tree as one flat ``{field: [msg, ...]}`` (SPEC §11).

    A nested serializer's or a list's errors are named by their path, ``"rate_limit.per_minute"``
    or ``"allowed_ips.0"``, so every value is a list of strings, as the schema's ``errors`` says,
    never an object a client's model cannot hold.
    """
    if not isinstance(errors, dict | list):
        return {prefix or "non_field_errors": [str(errors)]}
    flat: dict[str, list[str]] = {}
    items = errors.items() if isinstance(errors, dict) else _list_items(errors)
    for key, value in items:
        if key is None or (prefix and key == "non_field_errors"):
            name = prefix  # a nested object's own errors are its field's: "endpoints.0"
        else:
            name = f"{prefix}.{key}" if prefix else str(key)
        for field, messages in flat_errors(value, name).items():
            flat.setdefault(field, []).extend(messages)
    return flat


def _list_items(errors: list):
    """A list of messages belongs to its field; a list of objects (``many=True``) to each index."""
    for index, item in enumerate(errors):
        yield (index if isinstance(item, dict) and item else None), item
