"""API key material: generation, the offline checksum, display prefix and keyed hash.

A key reads ``<prefix>_<secret><checksum>``: 43 base62 characters from ``secrets`` (256 bits)
followed by a 6-character base62 CRC32 of everything before it, as GitHub's tokens do. The
checksum lets a leaked-secret scanner recognise a real key offline, and lets us refuse a
mistyped or invented key before any database or cache lookup.

Keys are stored as HMAC-SHA256 under a server-side pepper: a stolen database yields nothing
usable, and a lookup is one indexed probe. A password KDF would be pointless here (the input
already has 256 bits of entropy) and would cost milliseconds per request.
"""

import functools
import hashlib
import hmac
import re
import secrets
import zlib

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_LENGTH = 43  # 43 * log2(62) = 256.03 bits
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
KEY_PREFIX_LENGTH = 12  # the part of a key shown in listings; frozen, it shapes the database
HASH_LENGTH = 64  # hex HMAC-SHA256


def generate_key() -> str:
    """Return a new raw API key. It leaves the server once and is never stored."""
    body = f"{settings.KEYWARD_KEY_PREFIX}_" + "".join(
        secrets.choice(BASE62) for _ in range(SECRET_LENGTH)
    )
    return body + _checksum(body)


def is_well_formed(raw_key: str) -> bool:
    """True when ``raw_key`` has our shape and a valid checksum; else no lookup is worth doing."""
    match = _key_pattern().fullmatch(raw_key)
    if match is None:
        return False
    return hmac.compare_digest(_checksum(match["body"]), match["checksum"])


def has_key_length(raw_key: str) -> bool:
    """A first, nearly free filter: a key of any other length cannot be ours."""
    return len(raw_key) == _key_length()


def display_prefix(raw_key: str) -> str:
    return raw_key[:KEY_PREFIX_LENGTH]


def hash_key(raw_key: str, pepper: str | None = None) -> str:
    """The keyed hash stored in ``ApiKey.key_hash`` (and used as the cache key)."""
    mac = (_keyed_hmac(pepper) if pepper is not None else _current_keyed_hmac()).copy()
    mac.update(raw_key.encode())
    return mac.hexdigest()


def fallback_hashes(raw_key: str) -> list[str]:
    """Hashes under retired peppers, tried only after a miss while a pepper rotation runs."""
    return [hash_key(raw_key, pepper) for pepper in settings.KEYWARD_KEY_PEPPER_FALLBACKS]


def current_pepper() -> str:
    return settings.KEYWARD_KEY_PEPPER or _derived_pepper(settings.SECRET_KEY)


@functools.lru_cache(maxsize=8)
def _derived_pepper(secret_key: str) -> str:
    return hmac.new(secret_key.encode(), b"keyward.apikeys.pepper", hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=8)
def _keyed_hmac(pepper: str):
    """An HMAC-SHA256 already keyed with ``pepper``, copied for each key.

    OpenSSL 3's one-shot HMAC (``hmac.digest``) fetches the algorithm and builds a context on
    every call, which costs more than the hash itself; copying a context keyed once does
    neither, so every request pays for the hash alone.
    """
    return hmac.new(pepper.encode(), digestmod=hashlib.sha256)


@functools.lru_cache(maxsize=1)
def _current_keyed_hmac():
    """The current pepper's keyed HMAC: the settings are read once, not on every key."""
    return _keyed_hmac(current_pepper())


@functools.lru_cache(maxsize=1)
def _key_pattern() -> re.Pattern:
    prefix = re.escape(settings.KEYWARD_KEY_PREFIX)
    return re.compile(
        rf"(?P<body>{prefix}_[0-9A-Za-z]{{{SECRET_LENGTH}}})(?P<checksum>[0-9A-Za-z]{{{CHECKSUM_LENGTH}}})"
    )


@functools.lru_cache(maxsize=1)
def _key_length() -> int:
    return len(settings.KEYWARD_KEY_PREFIX) + 1 + SECRET_LENGTH + CHECKSUM_LENGTH


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode())
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, remainder = divmod(value, 62)
        digits.append(BASE62[remainder])
    return "".join(reversed(digits))


@receiver(setting_changed)
def _clear_caches(*, setting, **kwargs):
    if setting in ("KEYWARD_KEY_PREFIX",):
        _key_pattern.cache_clear()
        _key_length.cache_clear()
    if setting in ("KEYWARD_KEY_PEPPER", "SECRET_KEY"):
        _current_keyed_hmac.cache_clear()
