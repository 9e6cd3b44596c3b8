"""DRF authentication by API key, in all four presentations of SPEC §3.

``Authorization: Bearer <key>`` · ``X-API-Key: <key>`` · ``Authorization: <key>`` (bare) ·
``Authorization: Basic base64("apikey:<key>")``. A Bearer value that is a JWT is left to the JWT
authentication class. A key header wins over any cookie, because this class runs first.

A request that presents two credentials in headers (``X-API-Key`` and ``Authorization``) is
judged on both: either one invalid refuses it with that one's code (SPEC §9), so a garbage
header is never silently ignored beside a good one. When both are good, ``X-API-Key`` acts.
"""

import binascii
import uuid

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from accounts.authentication import authenticate_access_token
from apikeys import crypto, known_keys
from apikeys.permissions import ip_refusal
from apikeys.selectors import api_key_get_for_authentication
from apikeys.shadow import shadow_for_request
from core.client_ip import client_ip
from core.errors import BEARER_CHALLENGE
from core.principal import AuthMethod, Principal
from metering import policy, verified
from metering.usage import usage_record_direct
from oauth.authentication import authenticate_client_token
from oauth.tokens import CLIENT_TOKEN_TYPE, unverified_token_type
from tenants.resolution import TENANT_MISMATCH, tenant_header_value

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

    Raises 401 for a header that tries to present a credential but is malformed, and for an
    ``Authorization`` header beside ``X-API-Key`` whose credential is not valid.
    """
    # On Django's own request: DRF's wrapper finds ``META`` only after a failed lookup.
    meta = getattr(request, "_request", request).META
    header_key = meta.get("HTTP_X_API_KEY")
    authorization = meta.get("HTTP_AUTHORIZATION")
    if header_key is not None:
        header_key = header_key.strip()
        if authorization is not None:
            _judge_authorization_beside(authorization, header_key)
        return header_key
    if authorization is None:
        return None
    return _key_from_authorization(authorization)


def _judge_authorization_beside(authorization: str, header_key: str) -> None:
    """Raise the 401 an ``Authorization`` header would get on its own, if it would get one.

    Nothing is counted here: the request is counted once, for the credential that acts.
    """
    raw_key = _key_from_authorization(authorization)
    if raw_key is None:  # a JWT: a service client's or a person's
        token = authorization.split()[1]
        if unverified_token_type(token) == CLIENT_TOKEN_TYPE:
            authenticate_client_token(token)
        else:
            authenticate_access_token(token)
    elif raw_key != header_key:
        authenticate_key(raw_key)


def _key_from_authorization(authorization: str) -> str | None:
    """The key an ``Authorization`` header presents; ``None`` for a Bearer JWT."""
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
    (see ``metering.verified``). So does a key that no stored key can be (``known_keys``).

    A key refused for its IP allowlist, its expiry or its tenant is counted in the client
    address's anonymous bucket, never in its own windows or usage (SPEC §9).
    """
    if not crypto.has_key_length(raw_key):
        raise _failed("invalid_api_key", "Invalid API key.")
    key_hash = crypto.hash_key(raw_key)
    cache_key = policy.cache_key_of_key(key_hash)
    # A key this process has verified passed its checksum then; only an unknown one is checked
    # (offline, before the shared cache or the database is asked anything).
    if verified.get(cache_key) is None:
        if not crypto.is_well_formed(raw_key):
            raise _failed("invalid_api_key", "Invalid API key.")
        if request is not None and known_keys.refused_as_unknown(raw_key, key_hash, request):
            raise _failed("invalid_api_key", "Invalid API key.")
    # The principal is what is cached: built once per verified key, not once per request.
    principal = verified.serve(
        cache_key,
        load=lambda: principal_for_key(_verified_key(raw_key, key_hash)),
        meter_of=_meter_of,
        request=request,
        on_unavailable=_record_use_directly,
        refuse=(lambda principal: refusal_before_use(principal, request)),
        shadow_of=(lambda principal: shadow_for_request(principal, request)) if request else None,
    )
    if request is None and (expired := _refusal_in_time(principal)) is not None:
        raise expired
    return principal


def refusal_before_use(principal: Principal, request) -> exceptions.APIException | None:
    """What refuses this request with this key before it may spend anything of the key's.

    Expiry, the IP allowlist (the first rule of ``authorize``, decided here before the key is
    counted) and a tenant-bound key naming another tenant: each decided from the key alone,
    with no query. ``None`` when the key may go on to be counted and authorized.
    """
    if (expired := _refusal_in_time(principal)) is not None:
        return expired
    if (refused := ip_refusal(principal, client_ip(request))) is not None:
        return exceptions.PermissionDenied(refused.reason, code=refused.code)
    if principal.tenant_id is not None:
        named = tenant_header_value(request)
        if named is not None and _uuid_or_none(named) != principal.tenant_id:
            return exceptions.PermissionDenied(TENANT_MISMATCH, code="tenant_mismatch")
    return None


def _refusal_in_time(principal: Principal) -> exceptions.AuthenticationFailed | None:
    """A cached key expires while it is cached."""
    if principal.api_key.is_expired():
        return _failed("api_key_expired", "This API key has expired.")
    return None


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


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
        known_keys.learn()  # so that the next unknown key is refused without a query
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
