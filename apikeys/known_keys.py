"""Which keys exist, known in every process, so that an invented key costs no database query.

The checksum (``crypto``) is public: anyone can make well-formed keys offline, and each one that
reached the database would cost an indexed probe for nothing. So every process keeps the first
64 bits of every stored key hash, sorted in one array (8 bytes a key), read in one query once
the process has met an unknown key (so a cold real key still costs just its one probe). The
copy is current while the shared generation ``keys:all`` holds the value read before that
query; saving or deleting any key bumps it once that commits (``apikeys.signals``).

A key whose hash is not in the copy is refused in the trip that counts the refusal in the client
address's anonymous bucket, and that same trip confirms the generation
(``metering.verified.count_refused``). When it has moved on (a key was created, rotated or
re-hashed somewhere) the hashes are read again and the key judged once more, so a key created a
moment ago is never refused. A key whose hash is in the copy goes the usual way.

Nothing is written to the shared cache for an unknown key, and what a process keeps is bounded
by the number of stored keys, not by the traffic: past ``MAX_KEYS`` no copy is kept and unknown
keys cost their probe again.
"""

import threading
import time
from array import array
from bisect import bisect_left
from dataclasses import dataclass

from django.db import transaction

from apikeys import crypto
from apikeys.models import ApiKey
from audit.services import burst_tally
from core.cache import CACHE_ERRORS
from metering import backends, verified

FAMILY = "keys:all"  # the generation every saved key bumps
MAX_KEYS = 2_000_000  # 16 MB a process
RETRY_SECONDS = 600  # past MAX_KEYS, how long before the keys are counted again
UNREACHABLE_RETRY_SECONDS = 5  # the shared cache away: how long before it is asked again


@dataclass(frozen=True, slots=True)
class Known:
    generation: str
    prefixes: array  # sorted 64-bit prefixes of every stored hash; empty when over MAX_KEYS
    complete: bool


_known: Known | None = None
_not_before = 0.0  # no copy is read before then: too many keys, or the shared cache away
_lock = threading.Lock()


def refused_as_unknown(raw_key: str, key_hash: str, request) -> bool:
    """True when no stored key can be ``raw_key``; the refusal is then already counted.

    ``False`` means "ask the database": the key may exist, or the copy cannot be confirmed.
    """

    def counted_refusal(generation: str) -> bool:
        return (
            verified.count_refused(
                request,
                generation_of=FAMILY,
                expected=generation,
                tally=burst_tally(request, "invalid_api_key"),  # the audit's bursts, same trip
            )
            is not verified.STALE
        )

    return _certainly_unknown(raw_key, key_hash, counted_refusal)


def absent(raw_key: str, key_hash: str) -> bool:
    """True when no stored key can be ``raw_key``, confirmed by one read of the shared
    generation; nothing is counted (``keys/verify``, whose caller is counted on its own key).

    ``False`` means "ask the database", as for ``refused_as_unknown``.
    """

    def still_current(generation: str) -> bool | None:
        try:
            return verified.current_generation(FAMILY) == generation
        except CACHE_ERRORS:
            return None

    return _certainly_unknown(raw_key, key_hash, still_current)


def seems_absent(raw_key: str, key_hash: str) -> bool:
    """Whether this process's copy, if it has one, rules ``raw_key`` out; not confirmed (the
    WSGI lane's first look, before it commits to a refusal: ``refused_as_unknown`` decides)."""
    known = _known
    return known is not None and not _maybe_stored(known, raw_key, key_hash)


def _certainly_unknown(raw_key: str, key_hash: str, confirmed) -> bool:
    """Whether this process's copy rules ``raw_key`` out, and ``confirmed(generation)`` says the
    copy read under that generation is current: ``True``, ``False`` (it moved on: read it again,
    once) or ``None`` (it cannot be told)."""
    known = _known  # read once a key was not found (``learn``): a cold real key costs one probe
    for _ in range(2):
        if known is None or _maybe_stored(known, raw_key, key_hash):
            return False
        current = confirmed(known.generation)
        if current is not False:
            return bool(current)
        forget()
        known = _current()
    return False


def learn() -> None:
    """A key was not found in the database: read every stored hash, if not read already."""
    _current()


def keys_changed_on_commit() -> None:
    """A key was saved: this process reads the hashes again now, every other one after commit."""
    forget()
    transaction.on_commit(_announce)


def forget() -> None:
    global _known
    _known = None


def reset() -> None:
    """Forget the copy and any back-off (tests: each starts with an empty cache)."""
    global _not_before
    forget()
    _not_before = 0.0


def _announce() -> None:
    forget()
    verified.invalidate(FAMILY)


def _maybe_stored(known: Known, raw_key: str, key_hash: str) -> bool:
    if not known.complete:
        return True
    if _holds(known.prefixes, key_hash):
        return True
    # A key stored under a retired pepper is found under its old hash until it is re-hashed.
    return any(_holds(known.prefixes, h) for h in crypto.fallback_hashes(raw_key))


def _holds(prefixes: array, key_hash: str) -> bool:
    prefix = _prefix(key_hash)
    i = bisect_left(prefixes, prefix)
    return i < len(prefixes) and prefixes[i] == prefix


def _prefix(key_hash: str) -> int:
    return int(key_hash[:16], 16)


def _current() -> Known | None:
    known = _known
    if _still_usable(known):
        return known
    with _lock:
        if not _still_usable(_known):
            _load()
        return _known


def _still_usable(known: Known | None) -> bool:
    """A complete copy; or, until the next attempt is due, whatever the last one left."""
    if known is not None and known.complete:
        return True
    return time.monotonic() < _not_before


def _load() -> None:  # under ``_lock``
    global _known, _not_before
    try:
        # Read before the hashes: a key saved after this read bumps past it (as in ``verified``).
        generation = backends.active().generation_ensure(FAMILY)
    except CACHE_ERRORS:
        generation = None
    if not generation:
        # Nothing could be confirmed: unknown keys ask the database meanwhile, and an outage
        # costs a failed call here once per few seconds, not once per request.
        _not_before = time.monotonic() + UNREACHABLE_RETRY_SECONDS
        return
    hashes = ApiKey.objects.values_list("key_hash", flat=True)
    prefixes = array("Q")
    for n, key_hash in enumerate(hashes.iterator(chunk_size=10_000)):
        if n >= MAX_KEYS:
            _not_before = time.monotonic() + RETRY_SECONDS
            _known = Known(generation, array("Q"), complete=False)
            return
        prefixes.append(_prefix(key_hash))
    _known = Known(generation, array("Q", sorted(prefixes)), complete=True)
