"""Client-credentials access tokens (RFC 9068): SimpleJWT tokens with a type of their own.

The header's ``typ`` is ``at+jwt`` and the ``token_type`` claim ``client_access``, so a user-JWT
authenticator refuses a client's token and this module refuses a user's, each twice over. The
claims are RFC 9068's ``iss``, ``aud``, ``sub`` (the client id), ``client_id``, ``scope``
(space-separated, RFC 6749 §3.3), ``jti``, ``iat`` and ``exp``, plus ``tenant_id`` (or null).
They are signed like every Keyward token (``accounts.signing``). The lifetime is read from
settings when a token is minted.
"""

import base64
import binascii
import json
from datetime import timedelta

from django.conf import settings
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from accounts.signing import client_token_backend

CLIENT_TOKEN_TYPE = "client_access"
DEFAULT_LIFETIME = 3600
# A header far larger than any token we mint is not worth decoding (nor a deep JSON bomb).
_MAX_TOKEN_LENGTH = 8192


class ClientAccessToken(AccessToken):
    token_type = CLIENT_TOKEN_TYPE
    # SimpleJWT needs a class lifetime; ``client_access_token_mint`` sets the configured one.
    lifetime = timedelta(seconds=DEFAULT_LIFETIME)

    def get_token_backend(self):
        return client_token_backend


def client_token_lifetime() -> int:
    return int(getattr(settings, "KEYWARD_CLIENT_TOKEN_LIFETIME", DEFAULT_LIFETIME))


def client_access_token_mint(*, client, scopes: list[str]) -> ClientAccessToken:
    """A signed token for ``client`` granting ``scopes`` (already checked by the caller)."""
    token = ClientAccessToken()
    token.set_exp(lifetime=timedelta(seconds=client_token_lifetime()))
    token["sub"] = str(client.client_id)
    token["client_id"] = str(client.client_id)
    token["tenant_id"] = str(client.tenant_id) if client.tenant_id else None
    token["scope"] = " ".join(scopes)
    return token


def unverified_token_type(raw_token: str) -> str | None:
    """The ``token_type`` claim of a JWT-shaped string, read without checking the signature.

    Only decides which authenticator should verify the token; never trusted beyond that.
    ``None`` for anything that is not a JWT with a JSON object payload.
    """
    if len(raw_token) > _MAX_TOKEN_LENGTH or raw_token.count(".") != 2:
        return None
    payload_segment = raw_token.split(".")[1]
    try:
        padded = payload_segment.encode("ascii") + b"=" * (-len(payload_segment) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error, RecursionError):
        return None  # UnicodeError and JSONDecodeError are ValueErrors
    if not isinstance(payload, dict):
        return None
    token_type = payload.get(api_settings.TOKEN_TYPE_CLAIM)
    return token_type if isinstance(token_type, str) else None
