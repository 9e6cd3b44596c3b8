"""``POST /oauth2/introspect`` (RFC 7662) and ``POST /oauth2/revoke`` (RFC 7009).

Both read a url-encoded form with ``token`` (and an optional ``token_type_hint``, which Keyward
does not need: a token says what it is). Introspection needs a caller: a service client (HTTP
Basic or the form fields) or an API key with ``keys:verify``. Revocation takes a client's
credentials when the token is a client's; a user's token needs none (holding it is the proof,
as for ``auth/logout``). The rules live in ``oauth.introspection``.
"""

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from apikeys.authentication import ApiKeyAuthentication
from core.client_ip import client_ip
from core.nostore import NO_STORE, no_store
from core.principal import AuthMethod, Principal, principal_of
from identity.authorize import authorize
from metering import credits
from oauth import serializers
from oauth.api import OAuthEndpoint
from oauth.introspection import token_introspect, token_revoke, verifier_of_client
from oauth.protocol import (
    FORM_CONTENT_TYPE,
    ClientCredentials,
    OAuthError,
    endpoint_request_parse,
    invalid_client,
    invalid_request,
    is_api_key_basic,
)
from oauth.ratelimits import token_rate_limit_client, token_rate_limit_ip
from oauth.services import client_authenticate

VERIFY_SCOPE = "keys:verify"


def _client_of(http_request, credentials: ClientCredentials):
    # Counted like a token request (the caller counts the IP): a secret is guessed no faster here.
    token_rate_limit_client(http_request, client_id=credentials.client_id)
    return client_authenticate(
        client_id=credentials.client_id, client_secret=credentials.client_secret
    )


class VerifierKeyAuthentication(ApiKeyAuthentication):
    """An API key presented to introspection; a service client's Basic header is left alone.

    Run by DRF like any authentication class, so the key's request is counted once, on the
    key's own limits, by the trip that serves the cached key (not on the anonymous IP bucket).
    """

    def authenticate(self, request):
        authorization = (request._request.META.get("HTTP_AUTHORIZATION") or "").strip()
        if authorization.lower().startswith("basic ") and not is_api_key_basic(authorization):
            return None  # client credentials: the view checks them
        return super().authenticate(request)


def key_verifier(principal: Principal | None, http_request) -> Principal:
    """The API key presented, if it may introspect (``keys:verify``); 401/403 otherwise."""
    if principal is None or principal.auth_method != AuthMethod.API_KEY:
        raise invalid_client("Authenticate as a service client, or with a keys:verify API key.")
    decision = authorize(
        principal,
        method=http_request.method,
        path=http_request.path,
        ip=client_ip(http_request),
        required_scope=VERIFY_SCOPE,
    )
    if not decision.allowed:
        raise OAuthError("insufficient_scope", decision.reason, status=403, code=decision.code)
    return principal


def introspection_body(verifier: Principal, params: dict, http_request) -> dict:
    """RFC 7662's answer about ``params``' token for ``verifier``; shared with the WSGI lane."""
    return token_introspect(
        verifier=verifier,
        raw_token=_token_param(params),
        ip=client_ip(http_request),
        cost=_cost_param(params),
    )


def _token_param(params: dict) -> str:
    token = params.get("token")
    if token is None:
        raise invalid_request("The token parameter is missing.")
    return token


def _cost_param(params: dict) -> int:
    """``cost``: the credits an API key's introspection spends (default 1; SPEC §12)."""
    value = params.get("cost")
    if value is None:
        return 1
    try:
        return credits.parse_cost(value)
    except ValueError as exc:
        raise invalid_request(str(exc)) from exc


# The errors both endpoints answer with, in RFC 6749 §5.2's shape.
CLIENT_ERRORS = {
    400: OpenApiResponse(serializers.OAuthErrorSerializer, description="`invalid_request`"),
    401: OpenApiResponse(
        serializers.OAuthErrorSerializer,
        description="`invalid_client`, with `WWW-Authenticate: Basic`",
    ),
    429: OpenApiResponse(serializers.OAuthErrorSerializer, description="`rate_limit_error`"),
}


class IntrospectView(OAuthEndpoint):
    """``POST /oauth2/introspect``: is this token active, and what does it grant?"""

    authentication_classes = [VerifierKeyAuthentication]

    @extend_schema(
        summary="Introspect a token or API key (RFC 7662)",
        description=(
            "The caller is a service client (HTTP Basic or the `client_id`/`client_secret` form "
            "fields) or an API key with `keys:verify`. `token` is a user's access or refresh "
            "token, a client's access token, or an API key (introspecting a key counts as a use "
            'of it, as `keys/verify` does). An inactive token is `{"active": false}` alone.'
        ),
        request={FORM_CONTENT_TYPE: serializers.IntrospectionRequestSerializer},
        responses={
            200: serializers.IntrospectionResponseSerializer,
            **CLIENT_ERRORS,
            403: OpenApiResponse(
                serializers.OAuthErrorSerializer,
                description="`insufficient_scope`: the key lacks `keys:verify`",
            ),
        },
        auth=[],
        tags=["oauth2"],
    )
    def post(self, request):
        http_request = request._request
        params, credentials = endpoint_request_parse(http_request)
        if credentials is not None:
            token_rate_limit_ip(http_request)
            verifier = verifier_of_client(_client_of(http_request, credentials))
        else:
            verifier = key_verifier(principal_of(request), http_request)
        return Response(introspection_body(verifier, params, http_request), headers=NO_STORE)


class RevokeView(OAuthEndpoint):
    """``POST /oauth2/revoke``: end a token; 200 whatever became of it."""

    @extend_schema(
        summary="Revoke a token (RFC 7009)",
        description=(
            "A user's access or refresh token ends its login (every token of it), with no "
            "client authentication; a client's access token is revoked by that client, "
            "authenticated by HTTP Basic or the form fields. An unknown, expired or foreign "
            "token changes nothing and still answers 200."
        ),
        request={FORM_CONTENT_TYPE: serializers.RevocationRequestSerializer},
        responses={
            200: OpenApiResponse(description="Revoked, or nothing to revoke (empty body)"),
            **CLIENT_ERRORS,
        },
        auth=[],
        tags=["oauth2"],
    )
    def post(self, request):
        http_request = request._request
        token_rate_limit_ip(http_request)
        params, credentials = endpoint_request_parse(http_request)
        client = _client_of(http_request, credentials) if credentials is not None else None
        token_revoke(raw_token=_token_param(params), client=client, request=http_request)
        return no_store(HttpResponse(status=200))
