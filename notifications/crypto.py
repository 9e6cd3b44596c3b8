"""Webhook secrets: made, kept encrypted, and used to sign.

A webhook secret must be usable again to sign each delivery, so unlike an API key it cannot be
stored as a hash. It is encrypted with Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``)
under a key derived from ``SECRET_KEY``; ``SECRET_KEY_FALLBACKS`` still decrypt, so rotating
``SECRET_KEY`` keeps existing webhooks working while the old key is listed as a fallback.
"""

import base64
import hashlib
import hmac
import secrets
import time
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "Keyward-Signature"


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _fernet_key(secret_key: str) -> bytes:
    digest = hashlib.sha256(f"keyward.notifications.webhook-secret:{secret_key}".encode()).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


@receiver(setting_changed)
def _forget_keys(*, setting, **kwargs):
    if setting in ("SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        _fernet.cache_clear()


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` (Stripe's scheme)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """What a receiver does (docs/notifications.md): check the HMAC and the timestamp's age."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = signature_header(secret, body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
