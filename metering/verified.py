"""Verified credentials kept in this process, checked against a generation in the shared cache.

A warm request costs no database query: the record behind a verified credential (an API key's
principal, with the key and its owner; or the user of a JWT or session) lives here, under a
cache key (``key:<keyed hash>``, ``user:<id>``), together with the generation number the shared
cache held for that cache key when the record was read from the database. The metering script
(``metering.meter.take``) compares that number with the shared one in the same round trip that
counts the request, and counts nothing when they differ; ``serve`` then drops the record,
reads it again and counts.

Every change to a key or a user bumps its generation (``invalidate_on_commit``, from signals),
so a revoke, delete, rotation, narrowing or deactivation is seen by every process and node on
its next request. A reader fetches the generation *before* reading the row, so a change
committed after that read always bumps past the number the reader holds.

A record that refuses the request it came with (``refuse``: an API key used from outside its
allowlist, past its expiry, or naming another tenant than its own) spends nothing of its own:
the request is counted in the client address's anonymous bucket instead, in a trip that also
confirms the record's generation, so a refusal is never decided on a stale copy.

If the shared cache cannot be reached, ``clear`` empties this process's records: they can no
longer be checked, so records are read from the database until the cache answers again, and
``on_unavailable`` records the use another way (API keys: straight into the database).
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from core.cache import CACHE_ERRORS
from core.client_ip import client_ip
from metering import backends, policy, throttles
from metering.meter import Meter, MeterUnavailable, Reading, take

logger = logging.getLogger(__name__)

MAX_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class Verified:
    record: object  # an API key's Principal (key and owner loaded), or a user
    meter: Meter  # whose ``generation_of`` is this entry's cache key
    generation: str


_entries: dict[str, Verified] = {}
_lock = threading.Lock()


def serve(
    cache_key: str,
    *,
    load: Callable[[], object],
    meter_of: Callable[[object], Meter],
    request=None,
    on_unavailable: Callable[[object, str | None], None] | None = None,
    refuse: Callable[[object], Exception | None] | None = None,
):
    """The verified record behind ``cache_key``, counting the request when there is one.

    ``load`` reads the record from the database and raises if the credential is no longer
    good; ``meter_of`` says how to count a request made with it; ``refuse`` returns the error
    that refuses this request with this record, or ``None``, before anything is counted on it.
    """
    entry = _entries.get(cache_key)
    ip = client_ip(request) if request is not None else None
    if entry is not None:
        if request is None:
            return entry.record
        refusal = refuse(entry.record) if refuse is not None else None
        if refusal is not None:
            reading = count_refused(request, generation_of=cache_key, expected=entry.generation)
            if reading is not STALE:
                _refuse(refusal, reading)
            forget(cache_key)
        else:
            try:
                reading = take(entry.meter, ip=ip, expected_generation=entry.generation)
            except MeterUnavailable as exc:
                clear()
                throttles.note_meter_unavailable(exc)
            else:
                if not reading.stale:
                    throttles.attach_reading(request, reading)
                    return entry.record
                forget(cache_key)

    generation = current_generation(cache_key)  # before the read: see the module docstring
    record = load()
    meter = meter_of(record)
    if generation is MISSING:
        # Created only now that the record exists, so an unknown credential leaves nothing in
        # the shared cache. Someone else's (a change's bump) may have come first: then this
        # copy may be older than it, and is not kept.
        generation = claim_generation(cache_key)
    if generation is not None:
        _remember(cache_key, Verified(record=record, meter=meter, generation=generation))
    if request is not None:
        refusal = refuse(record) if refuse is not None else None
        if refusal is not None:
            _refuse(refusal, count_refused(request))
        try:
            reading = take(meter, ip=ip)
        except MeterUnavailable as exc:
            throttles.note_meter_unavailable(exc)
            if on_unavailable is not None:
                on_unavailable(record, ip)
            reading = None
        else:
            if reading.generation != generation:
                forget(cache_key)  # changed while we read it: read again next time
        throttles.attach_reading(request, reading)
    return record


def get(cache_key: str) -> Verified | None:
    return _entries.get(cache_key)


STALE = object()  # what ``count_refused`` returns when the expected generation has moved on


def count_refused(request, *, generation_of: str | None = None, expected: str | None = None):
    """Count a refused request in the client address's anonymous bucket, and remember it.

    With ``expected``, the same trip confirms that ``generation_of`` still holds that value;
    when it does not, nothing is counted and ``STALE`` is returned, for the caller to decide
    again from the database. ``None`` when the shared cache is unreachable (refusals are then
    not limited, as nothing else is).
    """
    ip = client_ip(request)
    meter = policy.meter_for_ip(ip)
    if generation_of is not None:
        meter = Meter(bucket=meter.bucket, windows=meter.windows, generation_of=generation_of)
    try:
        reading = take(meter, ip=ip, expected_generation=expected)
    except MeterUnavailable as exc:
        throttles.note_meter_unavailable(exc)
        if expected is not None:
            clear()  # nothing can be confirmed: records are read from the database meanwhile
            return STALE
        reading = None
    else:
        if reading.stale:
            return STALE
    throttles.attach_reading(request, reading)
    return reading


def _refuse(refusal: Exception, reading: Reading | None):
    """Raise ``refusal``, or the 429 of the anonymous bucket it was counted in."""
    throttles.raise_if_over(reading)
    raise refusal


def forget(cache_key: str) -> None:
    with _lock:
        _entries.pop(cache_key, None)


def clear() -> None:
    with _lock:
        _entries.clear()


MISSING = ""  # the shared cache answered, and holds no generation for that record


def current_generation(cache_key: str) -> str | None:
    """The shared generation of ``cache_key``, ``MISSING``, or ``None`` if unreachable."""
    try:
        return backends.active().generation_get(cache_key) or MISSING
    except CACHE_ERRORS:
        clear()
        return None


def claim_generation(cache_key: str) -> str | None:
    """A new generation for ``cache_key`` if it still has none; else (or unreachable) ``None``."""
    try:
        return backends.active().generation_claim(cache_key) or None
    except CACHE_ERRORS:
        clear()
        return None


def invalidate_on_commit(cache_key: str) -> None:
    """Make every process re-read this record on its next request, once the change commits.

    A process that read the row before the commit holds the old generation, which the bump
    retires; one that reads after the commit sees the change itself.
    """
    forget(cache_key)
    transaction.on_commit(lambda: invalidate(cache_key))


def invalidate(cache_key: str) -> None:
    forget(cache_key)
    try:
        backends.active().generation_bump(cache_key)
    except CACHE_ERRORS:
        # Every process that cannot reach the cache reads records from the database anyway.
        logger.warning("could not bump a generation: shared cache unavailable")


def _remember(cache_key: str, entry: Verified) -> None:
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()  # crude but bounded; a cold read costs one query
        _entries[cache_key] = entry
