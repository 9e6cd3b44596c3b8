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
from metering import backends, throttles
from metering.meter import Meter, MeterUnavailable, take

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
):
    """The verified record behind ``cache_key``, counting the request when there is one.

    ``load`` reads the record from the database and raises if the credential is no longer
    good; ``meter_of`` says how to count a request made with it.
    """
    entry = _entries.get(cache_key)
    ip = client_ip(request) if request is not None else None
    if entry is not None:
        if request is None:
            return entry.record
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
    if generation is not None:
        _remember(cache_key, Verified(record=record, meter=meter, generation=generation))
    if request is not None:
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


def forget(cache_key: str) -> None:
    with _lock:
        _entries.pop(cache_key, None)


def clear() -> None:
    with _lock:
        _entries.clear()


def current_generation(cache_key: str) -> str | None:
    """The shared generation of ``cache_key``, created if missing; ``None`` if unreachable."""
    try:
        return backends.active().generation_ensure(cache_key) or None
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
