"""DRF authentication by API key, in all four presentations of SPEC §3.

``Authorization: Bearer <key>`` · ``X-API-Key: <key>`` · ``Authorization: <key>`` (bare) ·
``Authorization: Basic base64("apikey:<key>")``. A Bearer value that is a JWT is left to the JWT
authentication class. A key header wins over any cookie, because this class runs first.

A request that presents two credentials in headers (``X-API-Key`` and ``Authorization``) is
judged on both: either one invalid refuses it with that one's code (SPEC §9), so a garbage
header is never silently ignored beside a good one. When both are good, ``X-API-Key`` acts.
"""

import uuid

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from accounts.authentication import authenticate_access_token
from apikeys import crypto, known_keys
from apikeys.canary import canary_touch_record
from apikeys.models import KeyType
from apikeys.selectors import api_key_get_for_authentication
from apikeys.shadow import shadow_for_request
from apikeys.usage import usage_record_direct
from audit.services import burst_tally
from core.client_ip import client_ip
from core.errors import BEARER_CHALLENGE, code_of
from core.principal import AuthMethod, Principal
from identity import credentials, policy
from identity.authorize import ip_refusal
from metering import verified
from oauth.authentication import authenticate_client_token
from oauth.tokens import CLIENT_TOKEN_TYPE, unverified_token_type
from tenants.resolution import TENANT_MISMATCH, tenant_header_value

REALM = BEARER_CHALLENGE
CANARY = KeyType.CANARY.value  # a plain str: compared on every request with a cached key


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
    """Return the API key the request presents, ``None`` when it presents none (or a JWT).

    Raises 401 for a header that tries to present a credential but is malformed, and for an
    ``Authorization`` header beside ``X-API-Key`` whose credential is not valid. The headers
    are read by ``identity.credentials``, the one parser every door uses.
    """
    # On Django's own request: DRF's wrapper finds ``META`` only after a failed lookup.
    meta = getattr(request, "_request", request).META
    try:
        found = credentials.presented(meta.get("HTTP_X_API_KEY"), meta.get("HTTP_AUTHORIZATION"))
    except credentials.CredentialRefused as exc:
        raise _failed(exc.code, exc.detail) from None
    acting = found.acting
    if acting is None or acting.kind != credentials.API_KEY:
        return None  # nothing, or a JWT: SimpleJWT's turn
    if found.beside is not None:
        _judge_beside(found.beside, acting.value, request)
    return acting.value


def _judge_beside(beside: credentials.Credential, header_key: str, request=None) -> None:
    """Raise the 401 an ``Authorization`` header would get on its own, if it would get one.

    Nothing is counted here: the request is counted once, for the credential that acts.
    """
    if beside.kind == credentials.JWT:  # a service client's or a person's
        if unverified_token_type(beside.value) == CLIENT_TOKEN_TYPE:
            authenticate_client_token(beside.value)
        else:
            authenticate_access_token(beside.value)
    elif beside.value != header_key:
        authenticate_key(beside.value, presented_in=request)


looks_like_jwt = credentials.looks_like_jwt


def authenticate_key(raw_key: str, *, request=None, presented_in=None) -> Principal:
    """Check a raw key and return its principal, or raise 401 with the §8 code.

    With a ``request`` the key's use is also counted (rate limits and usage) and the verdict
    attached for the throttle and the headers. A warm key costs no database query and one trip
    to the shared cache, which both counts the request and confirms the cached copy is current
    (see ``metering.verified``). So does a key that no stored key can be (``known_keys``).

    A key refused for its IP allowlist, its expiry or its tenant is counted in the client
    address's anonymous bucket, never in its own windows or usage (SPEC §9).

    A canary key is refused exactly as an unknown key is, and its use recorded
    (``apikeys.canary``); ``presented_in`` is the request to record it against when the key is
    judged without counting it (an ``Authorization`` header beside ``X-API-Key``).
    """
    key_hash, cache_key = refuse_never_issued(raw_key, request=request)
    # The principal is what is cached: built once per verified key, not once per request.
    try:
        principal = verified.serve(
            cache_key,
            load=lambda: principal_for_key(_verified_key(raw_key, key_hash)),
            meter_of=_meter_of,
            request=request,
            on_unavailable=_record_use_directly,
            refuse=(lambda principal: refusal_before_use(principal, request)),
            tally_of=_refusal_tally,
            shadow_of=(
                (lambda principal: shadow_for_request(principal, request)) if request else None
            ),
        )
        if request is None and (refused := _refusal_of_key(principal)) is not None:
            raise refused
    except CanaryUsed as used:
        # Recorded once the refusal is final (``serve`` may judge a record twice).
        canary_touch_record(api_key=used.api_key, request=request or presented_in)
        raise _failed("invalid_api_key", "Invalid API key.") from None
    return principal


def refuse_never_issued(raw_key: str, *, request=None) -> tuple[str, str]:
    """Raise the 401 of a key that was certainly never issued; else its hash and cache key.

    Certainly: the wrong length or checksum, decided offline, or (with a ``request``) absent from
    every stored hash (``known_keys``), confirmed in the trip that counts the refusal.
    Returning counts nothing: the key may exist, and is looked up.
    """
    key_hash, cache_key, unverified = _judged_offline(raw_key)
    refused = (
        unverified
        and request is not None
        and known_keys.refused_as_unknown(raw_key, key_hash, request)
    )
    if refused:
        raise _failed("invalid_api_key", "Invalid API key.")
    return key_hash, cache_key


def seems_never_issued(raw_key: str) -> bool:
    """Whether ``refuse_never_issued`` will likely refuse ``raw_key``: the same checks, with
    nothing counted or confirmed (the copy of stored hashes may be out of date)."""
    try:
        key_hash, _, unverified = _judged_offline(raw_key)
    except exceptions.AuthenticationFailed:
        return True
    return unverified and known_keys.seems_absent(raw_key, key_hash)


def _judged_offline(raw_key: str) -> tuple[str, str, bool]:
    """The key's hash, its cache key, and whether this process has yet to verify it; the 401 of
    a key of the wrong length or checksum. A key this process has verified passed its checksum
    then, so only an unknown one is checked."""
    if not crypto.has_key_length(raw_key):
        raise _failed("invalid_api_key", "Invalid API key.")
    key_hash = crypto.hash_key(raw_key)
    cache_key = policy.cache_key_of_key(key_hash)
    unverified = verified.get(cache_key) is None
    if unverified and not crypto.is_well_formed(raw_key):
        raise _failed("invalid_api_key", "Invalid API key.")
    return key_hash, cache_key, unverified


class CanaryUsed(exceptions.AuthenticationFailed):
    """A canary key was presented: refused as an unknown key, and its use recorded."""

    def __init__(self, api_key):
        super().__init__("Invalid API key.", code="invalid_api_key")
        self.api_key = api_key


def refusal_before_use(principal: Principal, request) -> exceptions.APIException | None:
    """What refuses this request with this key before it may spend anything of the key's.

    Expiry, the IP allowlist (the first rule of ``authorize``, decided here before the key is
    counted) and a tenant-bound key naming another tenant: each decided from the key alone,
    with no query. ``None`` when the key may go on to be counted and authorized.
    """
    if (refused := _refusal_of_key(principal)) is not None:
        return refused
    if (refused := ip_refusal(principal, client_ip(request))) is not None:
        return exceptions.PermissionDenied(refused.reason, code=refused.code)
    if principal.tenant_id is not None:
        named = tenant_header_value(request)
        if named is not None and _uuid_or_none(named) != principal.tenant_id:
            return exceptions.PermissionDenied(TENANT_MISMATCH, code="tenant_mismatch")
    return None


def _refusal_of_key(principal: Principal) -> exceptions.AuthenticationFailed | None:
    """What refuses a key on its own: being a canary (first, in every state, so it answers as
    an unknown key would), then ``ApiKey.refusal``: its owner deactivated, the key revoked, or
    expired (perhaps while it was cached)."""
    if principal.key_type == CANARY:
        return CanaryUsed(principal.api_key)
    if (refusal := principal.api_key.refusal()) is not None:
        return _failed(*refusal)
    return None


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _refusal_tally(request, refusal: Exception):
    """The audit's refused-key tally when ``refusal`` refuses the key itself (revoked, expired,
    its owner deactivated)."""
    return burst_tally(request, code_of(refusal))


def _meter_of(principal: Principal):
    return policy.meter_for_key(principal.api_key)


def _record_use_directly(principal: Principal, ip: str | None) -> None:
    """With the shared cache down, a key's use goes straight into the database."""
    usage_record_direct(principal.api_key.pk, ip=ip)


def _verified_key(raw_key: str, key_hash: str):
    """The key from the database; 401 ``invalid_api_key`` when no stored key is ``raw_key``.

    A key that may not authenticate (revoked, expired, its owner deactivated, a canary) is
    returned too, and cached like any key, so that each later use is refused (``refuse``, in
    the trip that counts the refusal and confirms the record) without a query. A key found under
    a retired pepper comes back re-hashed under the current one, so it is cached under the
    presented hash like any other key.
    """
    api_key = api_key_get_for_authentication(raw_key, key_hash=key_hash)
    if api_key is None:
        known_keys.learn()  # so that the next unknown key is refused without a query
        raise _failed("invalid_api_key", "Invalid API key.")
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


def _failed(code: str, detail: str) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(detail, code=code)
