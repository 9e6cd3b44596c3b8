"""The credential as ``token`` in the request body, for Server-Sent Events clients.

A browser's EventSource cannot send headers, and a ``fetch`` stream is often written by the same
hands, so the SSE endpoints also take ``{"token": "<api key or access JWT>"}`` (a user's JWT or a
service client's). The token is checked by exactly the functions the header path uses, and
yields the same Principal, so the one authorization decision and tenant resolution apply
unchanged. Only the views that list this
class accept it; a token in the URL is never accepted (URLs end up in logs).
"""

from collections.abc import Mapping

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication

from accounts.authentication import CookieJWTAuthentication, authenticate_access_token
from apikeys.authentication import REALM, authenticate_key, looks_like_jwt
from oauth.authentication import authenticate_client_token
from oauth.tokens import CLIENT_TOKEN_TYPE, unverified_token_type

TOKEN_FIELD = "token"


class BodyTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        data = request.data
        token = data.get(TOKEN_FIELD) if isinstance(data, Mapping) else None
        if token is None or token == "":
            return None
        if not isinstance(token, str):
            raise exceptions.AuthenticationFailed(
                "The token must be a string.", code="invalid_token"
            )
        token = token.strip()
        if looks_like_jwt(token):
            # The same dispatch as the header path: a client-credentials token is oauth's.
            if unverified_token_type(token) == CLIENT_TOKEN_TYPE:
                return authenticate_client_token(token)
            return authenticate_access_token(token, request=request)
        principal = authenticate_key(token, request=request)
        return principal.user, principal

    def authenticate_header(self, request):
        return REALM


def with_body_token(authenticators: list) -> list:
    """Put the body token after the header credentials and before the cookies.

    A credential the client states explicitly wins over one the browser attaches by itself, as
    a key header does (SPEC §3); and a page that posts a token needs no CSRF token.
    """
    ambient = (SessionAuthentication, CookieJWTAuthentication)
    position = next(
        (i for i, auth in enumerate(authenticators) if isinstance(auth, ambient)),
        len(authenticators),
    )
    return [*authenticators[:position], BodyTokenAuthentication(), *authenticators[position:]]
