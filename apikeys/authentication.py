"""DRF authentication by API key, in all four presentations of SPEC §3.

``Authorization: Bearer <key>`` · ``X-API-Key: <key>`` · ``Authorization: <key>`` (bare) ·
``Authorization: Basic base64("apikey:<key>")``. A Bearer value that is a JWT is left to the JWT
authentication class. A key header wins over any cookie, because this class runs first.
"""

import binascii

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from apikeys import crypto
from apikeys.selectors import api_key_get_for_authentication
from core.errors import BEARER_CHALLENGE
from core.principal import AuthMethod, Principal
from metering import policy, verified
from metering.usage import usage_record_direct

REALM = BEARER_CHALLENGE


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw_key = presented_key(request)
        if raw_key is None:
            return None
        principal = authenticate_key(raw_key, request=request)
        return principal.user, principal

    def authenticate_header(self, request):
        return REALM


def presented_key(request) -> str | None:
    """Return the API key the request presents, ``None`` when it presents none.

    Raises 401 for a header that tries to present a credential but is malformed.
    """
    # On Django's own request: DRF's wrapper finds ``META`` only after a failed lookup.
    meta = getattr(request, "_request", request).META
    header_key = meta.get("HTTP_X_API_KEY")
    if header_key is not None:
        return header_key.strip()

    authorization = meta.get("HTTP_AUTHORIZATION")
    if authorization is None:
        return None
    parts = authorization.split()
    if not parts:
        raise _failed("invalid_credentials", "Empty Authorization header.")
    scheme = parts[0].lower()
    if scheme == "bearer":
        if len(parts) != 2:  # an empty or split token: RFC 6750's invalid_token, not a login's
            raise _failed("invalid_token", "Malformed Bearer Authorization header.")
        if looks_like_jwt(parts[1]):
            return None  # SimpleJWT's turn
        return parts[1]
    if scheme == "basic":
        if len(parts) != 2:
            raise _failed("invalid_credentials", "Malformed Basic Authorization header.")
        return _key_from_basic(parts[1])
    if len(parts) == 1:
        return parts[0]  # bare key, as FusionAuth accepts it
    raise _failed("invalid_credentials", "Unsupported Authorization scheme.")


def looks_like_jwt(value: str) -> bool:
    """A JWT has three dot-separated parts; a key has no dot at all, so nothing is ambiguous."""
    return value.count(".") == 2


def authenticate_key(raw_key: str, *, request=None) -> Principal:
    """Check a raw key and return its principal, or raise 401 with the §8 code.

    With a ``request`` the key's use is also counted (rate limits and usage) and the verdict
    attached for the throttle and the headers. A warm key costs no database query and one trip
    to the shared cache, which both counts the request and confirms the cached copy is current
    (see ``metering.verified``).
    """
    if not crypto.has_key_length(raw_key):
        raise _failed("invalid_api_key", "Invalid API key.")
    key_hash = crypto.hash_key(raw_key)
    cache_key = policy.cache_key_of_key(key_hash)
    # A key this process has verified passed its checksum then; only an unknown one is checked
    # (offline, before the shared cache or the database is asked anything).
    if verified.get(cache_key) is None and not crypto.is_well_formed(raw_key):
        raise _failed("invalid_api_key", "Invalid API key.")
    # The principal is what is cached: built once per verified key, not once per request.
    principal = verified.serve(
        cache_key,
        load=lambda: principal_for_key(_verified_key(raw_key, key_hash)),
        meter_of=_meter_of,
        request=request,
        on_unavailable=_record_use_directly,
    )
    if principal.api_key.is_expired():  # a cached key expires while it is cached
        raise _failed("api_key_expired", "This API key has expired.")
    return principal


def _meter_of(principal: Principal):
    return policy.meter_for_key(principal.api_key)


def _record_use_directly(principal: Principal, ip: str | None) -> None:
    """With the shared cache down, a key's use goes straight into the database."""
    usage_record_direct(principal.api_key.pk, ip=ip)


def _verified_key(raw_key: str, key_hash: str):
    """The key from the database, if it may authenticate at all.

    A key found under a retired pepper comes back re-hashed under the current one, so it is
    cached under the presented hash like any other key.
    """
    api_key = api_key_get_for_authentication(raw_key, key_hash=key_hash)
    if api_key is None:
        raise _failed("invalid_api_key", "Invalid API key.")
    refusal = api_key.refusal()
    if refusal is not None:
        raise _failed(*refusal)
    return api_key


def principal_for_key(api_key) -> Principal:
    return Principal(
        auth_method=AuthMethod.API_KEY,
        user=api_key.user,
        scopes=tuple(api_key.scopes or ()),
        endpoints=tuple(api_key.endpoints or ()),
        tenant_id=api_key.tenant_id,
        expires_at=api_key.expires_at,
        api_key=api_key,
        key_type=api_key.key_type,
        key_manager=api_key.key_manager,
        allowed_ips=tuple(api_key.allowed_ips or ()),
    )


def _key_from_basic(encoded: str) -> str:
    try:
        # What ``base64.b64decode(encoded, validate=True)`` accepts, without its regex check
        # and two Python frames on every Basic request.
        decoded = binascii.a2b_base64(encoded, strict_mode=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise _failed("invalid_credentials", "Malformed Basic Authorization header.") from exc
    username, sep, password = decoded.partition(":")
    if not sep or username != "apikey":
        raise _failed(
            "invalid_credentials", 'Basic authentication takes the username "apikey" and a key.'
        )
    return password


def _failed(code: str, detail: str) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(detail, code=code)
