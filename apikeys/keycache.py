"""Verified keys kept in this process, checked against a generation number in the shared cache.

A warm key request costs no database query: the record of a verified key lives here, keyed by
its keyed hash, together with the generation number the shared cache held for that hash when
the record was read from the database. The metering script (``metering.meter.take``) compares
that number with the shared one in the same round trip that counts the request, and counts
nothing when they differ; the caller then drops the record and reads the key again.

Every change to a key bumps its generation (``invalidate``), so a revoke, delete, rotation or
narrowing is seen by every process and node on its next request. The generation is keyed by
the key's hash rather than its id, so a reader can fetch it *before* reading the row: a change
committed after that read always bumps past the number the reader holds.

If the shared cache cannot be reached, ``clear`` empties this process's records: they can no
longer be checked, so keys are read from the database until the cache answers again.
"""

import logging
import threading
from dataclasses import dataclass

from django.db import transaction

from core.cache import CACHE_ERRORS
from core.principal import Principal
from metering import backends
from metering.meter import Meter

logger = logging.getLogger(__name__)

MAX_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class CachedKey:
    api_key: object  # apikeys.ApiKey, with its user
    principal: Principal
    meter: Meter
    generation: str


_entries: dict[str, CachedKey] = {}
_lock = threading.Lock()


def get(key_hash: str) -> CachedKey | None:
    return _entries.get(key_hash)


def remember(key_hash: str, entry: CachedKey) -> None:
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()  # crude but bounded; a cold read costs one query
        _entries[key_hash] = entry


def forget(key_hash: str) -> None:
    with _lock:
        _entries.pop(key_hash, None)


def clear() -> None:
    with _lock:
        _entries.clear()


def current_generation(key_hash: str) -> str | None:
    """The shared generation of ``key_hash``, created if missing; ``None`` if unreachable."""
    try:
        return backends.active().generation_ensure(key_hash) or None
    except CACHE_ERRORS:
        clear()
        return None


def invalidate_on_commit(key_hash: str) -> None:
    """Make every process re-read this key on its next request, once the change commits.

    A process that read the row before the commit holds the old generation, which the bump
    retires; one that reads after the commit sees the change itself.
    """
    forget(key_hash)
    transaction.on_commit(lambda: invalidate(key_hash))


def invalidate(key_hash: str) -> None:
    forget(key_hash)
    try:
        backends.active().generation_bump(key_hash)
    except CACHE_ERRORS:
        # Every process that cannot reach the cache reads keys from the database anyway.
        logger.warning("could not bump a key generation: shared cache unavailable")
