"""Reads of API keys. Every lookup of a key by its secret goes through here."""

from apikeys import crypto
from apikeys.models import ApiKey


def api_key_get_for_authentication(raw_key: str) -> ApiKey | None:
    """One indexed probe on the keyed hash; retired peppers are tried only after a miss."""
    queryset = ApiKey.objects.select_related("user")
    api_key = queryset.filter(key_hash=crypto.hash_key(raw_key)).first()
    if api_key is None:
        for legacy_hash in crypto.fallback_hashes(raw_key):
            api_key = queryset.filter(key_hash=legacy_hash).first()
            if api_key is not None:
                break
    return api_key
