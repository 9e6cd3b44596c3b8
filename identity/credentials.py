"""The one reader of credential headers (SPEC §3): which credential a request presents.

Every door reads ``X-API-Key`` and ``Authorization`` through here — the DRF authentication
classes, the metrics' "which scheme was tried", logout's "which token ends", and the WSGI lane
in front of Django (``config.lane``) — so a header means the same thing to each of them. It
takes header values, not a request: no framework is involved, and each edge maps
``CredentialRefused`` to its own answer once (DRF: a 401 with the same code).

An API key comes as ``X-API-Key: <key>``, ``Authorization: Bearer <key>``, a bare
``Authorization: <key>`` or ``Authorization: Basic base64("apikey:<key>")``. A Bearer value
with three dot-separated parts is a JWT (a key has no dot, so nothing is ambiguous).
"""

import binascii
from dataclasses import dataclass

__all__ = [
    "API_KEY",
    "JWT",
    "Credential",
    "CredentialRefused",
    "Presented",
    "basic_pair",
    "bearer_value",
    "looks_like_jwt",
    "parse_authorization",
    "presented",
    "presented_scheme",
]

API_KEY = "api_key"
JWT = "jwt"


class CredentialRefused(Exception):
    """A header that tries to present a credential but is malformed: refused with ``code``."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Credential:
    kind: str  # API_KEY or JWT
    value: str  # the raw key or the token: a secret, never logged or echoed


@dataclass(frozen=True, slots=True)
class Presented:
    """What a request presents: the credential that acts, and an ``Authorization`` header's
    credential beside an ``X-API-Key`` (judged too, so garbage beside a good key is refused)."""

    acting: Credential | None
    beside: Credential | None = None


NOTHING = Presented(None)


def looks_like_jwt(value: str) -> bool:
    """A JWT has three dot-separated parts; a key has no dot at all."""
    return value.count(".") == 2


def presented(x_api_key: str | None, authorization: str | None) -> Presented:
    """The credentials of these two header values (``None``: the header is absent).

    ``X-API-Key`` acts when present; an ``Authorization`` beside it is parsed all the same.
    Raises ``CredentialRefused`` for a malformed ``Authorization`` header.
    """
    if x_api_key is not None:
        beside = parse_authorization(authorization) if authorization is not None else None
        return Presented(Credential(API_KEY, x_api_key.strip()), beside)
    if authorization is None:
        return NOTHING
    return Presented(parse_authorization(authorization))


def parse_authorization(authorization: str) -> Credential:
    """The credential of one ``Authorization`` header value; ``CredentialRefused`` if malformed."""
    parts = authorization.split()
    if not parts:
        raise CredentialRefused("invalid_credentials", "Empty Authorization header.")
    scheme = parts[0].lower()
    if scheme == "bearer":
        if len(parts) != 2:  # an empty or split token: RFC 6750's invalid_token, not a login's
            raise CredentialRefused("invalid_token", "Malformed Bearer Authorization header.")
        return Credential(JWT if looks_like_jwt(parts[1]) else API_KEY, parts[1])
    if scheme == "basic":
        if len(parts) != 2:
            raise CredentialRefused("invalid_credentials", "Malformed Basic Authorization header.")
        return Credential(API_KEY, _key_from_basic(parts[1]))
    if len(parts) == 1:
        return Credential(API_KEY, parts[0])  # bare key, as FusionAuth accepts it
    raise CredentialRefused("invalid_credentials", "Unsupported Authorization scheme.")


def bearer_value(authorization: str | None) -> str | None:
    """The value of a well-formed ``Bearer <value>`` header (key or token), else ``None``."""
    if not authorization:
        return None
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]


def presented_scheme(x_api_key: str | None, authorization: str | None) -> str | None:
    """Which scheme these headers try (``API_KEY``, ``JWT``), without judging them; ``None``
    when neither header presents anything. For counting refusals, where a malformed header
    still names what it tried."""
    if x_api_key is not None:
        return API_KEY
    parts = (authorization or "").split()
    if not parts:
        return None
    if parts[0].lower() == "bearer" and len(parts) == 2 and looks_like_jwt(parts[1]):
        return JWT
    return API_KEY


def basic_pair(authorization: str) -> tuple[str, str] | None:
    """``(user, password)`` of a ``Basic base64(user:password)`` header; ``None`` when the
    value holds no ``:``. Raises ``CredentialRefused`` when it is not a well-formed Basic
    header. Both Basic forms read it: ``apikey:<key>`` here, and a service client's
    ``client_id:client_secret`` at the OAuth endpoints (``oauth.protocol``)."""
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != "basic":
        raise CredentialRefused("invalid_credentials", "Malformed Basic Authorization header.")
    try:
        # What ``base64.b64decode(encoded, validate=True)`` accepts, without its regex check
        # and two Python frames on every Basic request.
        decoded = binascii.a2b_base64(parts[1], strict_mode=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise CredentialRefused(
            "invalid_credentials", "Malformed Basic Authorization header."
        ) from exc
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _key_from_basic(encoded: str) -> str:
    pair = basic_pair(f"Basic {encoded}")
    if pair is None or pair[0] != "apikey":
        raise CredentialRefused(
            "invalid_credentials", 'Basic authentication takes the username "apikey" and a key.'
        )
    return pair[1]
