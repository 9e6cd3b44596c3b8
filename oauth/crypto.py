"""Client secrets: generation and the keyed hash they are stored as.

A secret is 32 bytes from ``secrets`` (256 bits) in URL-safe base64 behind a recognisable
``kwcs_`` prefix, so a leaked-secret scanner can tell it from an API key. It is stored as
HMAC-SHA256 under the same server-side pepper as API keys (``apikeys.crypto``), with its own
domain label so a client secret's hash can never stand in for a key's. A slow password KDF
would buy nothing: the input already carries 256 bits of entropy, so the hash cannot be
guessed backwards, and a KDF would cost every token request milliseconds.
"""

import hashlib
import hmac
import secrets

from django.conf import settings

from apikeys.crypto import current_pepper

SECRET_PREFIX = "kwcs_"
SECRET_BYTES = 32  # 256 bits
HASH_LENGTH = 64  # hex HMAC-SHA256
_DOMAIN = b"keyward.oauth.client_secret\x00"


def generate_client_secret() -> str:
    """Return a new raw client secret. It leaves the server once and is never stored."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def hash_client_secret(raw_secret: str, pepper: str | None = None) -> str:
    """The keyed hash stored in ``ServiceClient.secret_hash``."""
    key = (pepper if pepper is not None else current_pepper()).encode()
    return hmac.new(key, _DOMAIN + raw_secret.encode(), hashlib.sha256).hexdigest()


def client_secret_matches(raw_secret: str, secret_hash: str) -> bool:
    """Compare in constant time, under the current pepper and then any retired one."""
    if hmac.compare_digest(hash_client_secret(raw_secret), secret_hash):
        return True
    return any(
        hmac.compare_digest(hash_client_secret(raw_secret, pepper), secret_hash)
        for pepper in settings.KEYWARD_KEY_PEPPER_FALLBACKS
    )
