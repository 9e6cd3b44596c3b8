"""Token introspection (RFC 7662) and revocation (RFC 7009): what a token is, and ending it.

Introspection answers about any credential Keyward issues — a user's access or refresh token,
a client's access token, an API key — with the claims RFC 7662 names, or ``{"active": false}``
and nothing more, so a refused answer tells the caller nothing it did not know. An API key is
judged by ``verify_key`` (and so counted as a use, and seen only by a caller who could verify
it there); a token is judged exactly as a request presenting it would be.

Revocation ends a user's login (an access or refresh token: its family, through the logout
services) or one of the calling client's own tokens; anything else — an unknown, expired or
foreign token — changes nothing and is still a success (RFC 7009 §2.2).
"""

from datetime import UTC, datetime

from django.db import transaction
from rest_framework import exceptions
from rest_framework_simplejwt.settings import api_settings

from accounts.access import access_token_live
from accounts.services import access_token_revoke, refresh_token_revoke
from accounts.tokens import refresh_token_live, token_decode
from apikeys.verification import verify_key
from audit.services import audit_record
from core.principal import AuthMethod, Principal
from oauth.authentication import authenticate_client_token
from oauth.models import RevokedClientToken, ServiceClient
from oauth.protocol import invalid_client
from oauth.tokens import CLIENT_TOKEN_TYPE, ClientAccessToken, unverified_token_type

INACTIVE = {"active": False}
# The token_type values: RFC 7009's token type hints, and the API key Keyward adds.
ACCESS_TOKEN = "access_token"
REFRESH_TOKEN = "refresh_token"
API_KEY = "api_key"


def verifier_of_client(client: ServiceClient) -> Principal:
    """The principal a service client introspects as: its tenant, its scopes, nobody's user."""
    return Principal(
        auth_method=AuthMethod.CLIENT_CREDENTIALS,
        user=None,
        scopes=tuple(client.scopes),
        tenant_id=client.tenant_id,
        service_client=client,
    )


def token_introspect(*, verifier: Principal, raw_token: str, ip=None, cost: int = 1) -> dict:
    """RFC 7662 §2.2: the token's claims with ``active: true``, or ``{"active": false}``.

    An API key spends ``cost`` of its credits, as ``keys/verify`` does; out of credits it is
    not active.
    """
    if not raw_token or len(raw_token) > 8192:
        return dict(INACTIVE)
    token_type = unverified_token_type(raw_token)
    if token_type is None:
        return _api_key_introspect(verifier, raw_token, ip, cost)
    try:
        if token_type == CLIENT_TOKEN_TYPE:
            return _client_token_introspect(raw_token)
        if token_type == "refresh":
            return _refresh_token_introspect(raw_token)
        return _access_token_introspect(raw_token)
    except exceptions.AuthenticationFailed:
        return dict(INACTIVE)


def _access_token_introspect(raw_token: str) -> dict:
    user, token = access_token_live(raw_token)
    return _user_token_answer(user, token, ACCESS_TOKEN)


def _refresh_token_introspect(raw_token: str) -> dict:
    live = refresh_token_live(raw_token)
    if live is None:
        return dict(INACTIVE)
    token, user = live
    return _user_token_answer(user, token, REFRESH_TOKEN)


def _user_token_answer(user, token, token_type: str) -> dict:
    """A person's live token: no scope, as a person acts with their own rights."""
    return {
        "active": True,
        "sub": str(user.pk),
        "username": user.email,
        "tenant_id": None,
        "exp": token["exp"],
        "iat": token.get("iat"),
        "jti": token[api_settings.JTI_CLAIM],
        "token_type": token_type,
    }


def _client_token_introspect(raw_token: str) -> dict:
    _, principal = authenticate_client_token(raw_token)
    token = principal.token
    client = principal.service_client
    return {
        "active": True,
        "scope": " ".join(principal.scopes),
        "client_id": str(client.client_id),
        "sub": str(client.client_id),
        "tenant_id": str(client.tenant_id) if client.tenant_id else None,
        "exp": token["exp"],
        "iat": token.get("iat"),
        "jti": token[api_settings.JTI_CLAIM],
        "token_type": ACCESS_TOKEN,
    }


def _api_key_introspect(verifier: Principal, raw_key: str, ip, cost: int = 1) -> dict:
    verdict = verify_key(
        verifier=verifier,
        raw_key=raw_key,
        method="GET",
        path=None,
        ip=ip,
        cost=cost,
        channel="introspect",
    )
    if not verdict.valid:
        return dict(INACTIVE)
    key = verdict.api_key
    body = {
        "active": True,
        "scope": " ".join(key.scopes),
        "sub": str(key.user_id),
        "username": key.user.email,
        "tenant_id": str(key.tenant_id) if key.tenant_id else None,
        "iat": int(key.created_at.timestamp()),
        "token_type": API_KEY,
        "key_prefix": key.key_prefix,
    }
    if key.expires_at is not None:
        body["exp"] = int(key.expires_at.timestamp())
    return body


def token_revoke(*, raw_token: str, client: ServiceClient | None, request=None) -> None:
    """RFC 7009 §2.1: revoke ``raw_token`` if the caller may; silently nothing otherwise.

    A user's access or refresh token ends its login (the token and its family), for whoever
    holds it, as ``auth/logout`` would. A client's token is revoked only by that client,
    authenticated: without client credentials it is ``invalid_client``.
    """
    if not raw_token or len(raw_token) > 8192:
        return
    token_type = unverified_token_type(raw_token)
    if token_type == CLIENT_TOKEN_TYPE:
        if client is None:
            raise invalid_client("A client token is revoked by its client, authenticated.")
        _client_token_revoke(raw_token, client, request)
        return
    if token_type not in ("access", "refresh"):
        return  # not a token Keyward revokes here (an API key is revoked through its API)
    try:
        if token_type == "refresh":
            family = refresh_token_revoke(raw_token=raw_token)
            user = family.user if family is not None else None
        else:
            user = access_token_revoke(raw_token=raw_token, strict=False)
    except exceptions.AuthenticationFailed:
        return  # tampered or foreign: nothing to revoke
    if user is not None:
        audit_record(
            event_type="oauth.token_revoked",
            request=request,
            actor=user,
            target=user,
            data={"token_type": REFRESH_TOKEN if token_type == "refresh" else ACCESS_TOKEN},
        )


def _client_token_revoke(raw_token: str, client: ServiceClient, request) -> None:
    try:
        token = token_decode(ClientAccessToken, raw_token)
    except exceptions.AuthenticationFailed:
        return  # expired or not genuine: it works nowhere already
    if str(token.get("client_id")) != str(client.client_id):
        return  # another client's: RFC 7009 lets no one else revoke it; say nothing about it
    with transaction.atomic():
        _, created = RevokedClientToken.objects.get_or_create(
            jti=str(token[api_settings.JTI_CLAIM])[:64],
            defaults={
                "client": client,
                "expires_at": datetime.fromtimestamp(token["exp"], tz=UTC),
            },
        )
        if created:
            audit_record(
                event_type="oauth.token_revoked",
                request=request,
                target=client,
                tenant_id=client.tenant_id,
                data={"token_type": ACCESS_TOKEN, "jti": token[api_settings.JTI_CLAIM]},
            )
