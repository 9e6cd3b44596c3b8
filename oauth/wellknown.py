"""The documents a standard client or an offline verifier fetches: JWKS and RFC 8414 metadata.

Both are public and cacheable; they change only when the configuration does (a key rotation,
a new issuer), and every node answers the same from the same settings.
"""

from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.signing import issuer, key_ring

# Long enough to spare verifiers a fetch per token, short enough that a rotation's new key is
# picked up well within the lifetime of the tokens the old one signed (docs/oauth.md).
MAX_AGE = 300
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
# The scopes with a meaning of their own; ``<resource>:read``/``:write`` are open-ended, which
# RFC 8414 §2 allows a server not to list.
SCOPES = ["read:all", "write:all", "admin", "app:access", "keys:verify"]


def _public(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = f"public, max-age={MAX_AGE}"
    # Public documents: a verifier's browser code on any origin may read them.
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def jwks(request):
    """``GET /.well-known/jwks.json``: the current public key and the previous ones."""
    return _public(JsonResponse(key_ring().public_jwks()))


@require_GET
def authorization_server_metadata(request):
    """``GET /.well-known/oauth-authorization-server`` (RFC 8414 §3)."""
    base = issuer().rstrip("/")
    return _public(
        JsonResponse(
            {
                "issuer": issuer(),
                "token_endpoint": base + reverse("oauth2-token"),
                "introspection_endpoint": base + reverse("oauth2-introspect"),
                "revocation_endpoint": base + reverse("oauth2-revoke"),
                "jwks_uri": base + reverse("jwks"),
                "grant_types_supported": ["client_credentials"],
                # No response_types_supported: RFC 8414 §2 requires it, but it describes an
                # authorization endpoint, which no grant here uses, and §3.2 forbids the empty
                # array; omitting it is the OAuth working group's reading for such a server.
                "token_endpoint_auth_methods_supported": AUTH_METHODS,
                "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
                # "none": a user revokes their own token holding nothing but the token.
                "revocation_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
                "scopes_supported": SCOPES,
            }
        )
    )
