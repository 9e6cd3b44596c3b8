"""CPython's private OpenSSL HMAC, for the keyed hash of every API key.

``openssl_hmac``: ``hmac.HMAC`` wraps ``_hashlib.hmac_new``'s object in Python; its ``copy``,
``update`` and ``hexdigest`` are the same C calls behind a few Python frames each, paid on
every key verified. ``_hashlib`` is CPython's, not the language's, and may change between
minor versions.
"""

import hashlib
import hmac

from core.fastpath.guard import trick_enabled

try:
    from _hashlib import hmac_new as _openssl_hmac_new
except ImportError:  # a Python built without OpenSSL
    _openssl_hmac_new = None

OPENSSL_HMAC = trick_enabled("openssl_hmac", "CPython", "3.11") and _openssl_hmac_new is not None


def keyed_hmac_openssl(key: bytes):
    return _openssl_hmac_new(key, digestmod="sha256")


def keyed_hmac_public(key: bytes):
    return hmac.new(key, digestmod=hashlib.sha256)


keyed_hmac_sha256 = keyed_hmac_openssl if OPENSSL_HMAC else keyed_hmac_public
