"""The credential cache: all a process remembers of the credentials it has verified.

Three tables, each of at most ``MAX_ENTRIES`` (``core.lru``: at the bound the least recently
used entry goes, never all at once), kept current by one invalidation path:

- **records** — the record behind a verified credential (an API key's principal, with the key
  and its owner; or the user of a JWT or session), under a cache key (``key:<keyed hash>``,
  ``user:<id>``), with the generation the shared cache held for it when it was read;
- **tokens** — JWTs whose signature SimpleJWT has checked (``accounts.access``), by digest. A
  JWT cannot change; whether its user still accepts it is asked of the user's record;
- **sessions** — logged-in sessions Django has checked (``accounts.authentication``), by digest,
  each tied to its user's record: forgetting the record forgets them.

Nothing here is ever named by the secret itself (``secret_digest``).

A warm request costs no database query: the record lives here together with the generation number
the shared cache held for its cache key when the record was read from the database. The metering
script (``metering.meter.take``) compares that number with the shared one in the same round trip
that counts the request, and counts nothing when they differ; ``serve`` then drops the record,
reads it again and counts.

**Everywhere or nowhere** (SPEC §10). A change that narrows access — revoke, delete, rotation,
scope or grant narrowing, user deactivation, logout, membership removal — runs inside
``narrowing_change``, and saving a key, a user or a membership inside a transaction does the
same through signals (``apikeys.signals``). The order, and why:

1. *Before the commit*, ``retire`` replaces each generation in the shared cache with a
   *marker* (``~<random>``, expiring after ``MARKER_SECONDS``). If the shared cache does not
   confirm — unreachable, or stalled past ``REDIS_SOCKET_TIMEOUT`` — ``ChangeNotPropagated``
   (503 ``service_unavailable``) is raised inside the transaction, which rolls back: the
   database is unchanged. Once the marker is set, every record cached anywhere holds a number
   that no longer matches, so its next use reads the database.
2. The transaction commits.
3. *After the commit*, ``settle`` puts a fresh generation in place of our marker.

A reader fetches the generation *before* reading the row, and never caches a record read under
a marker (``current_generation`` answers ``None``). That is what keeps the old row from being
cached under a new generation: between steps 1 and 3 a reader sees the marker and reads the
database on every request (seeing the old row until the commit, which is right: the change has
not answered yet); after step 3 the row it reads is the committed one. Bumping to a fresh
number before the commit would not do: a reader between the bump and the commit would cache the
old row under the new number. If step 3 fails (the cache went away just after the commit), the
marker stays until it expires, and records are read from the database until then — which is
why a marker expires, and why ``MARKER_SECONDS`` is far longer than any transaction that
retires something. Settling leaves another change's marker alone: that change has not
committed yet. A marker that reaches Redis late (the stalled Redis resumes and runs it after
we gave up) only makes a few reads go to the database.

**A cache that does not answer.** A process that cannot confirm with the shared cache that a
cached record is current does not serve it at all (SPEC allows up to 1 s): ``serve`` empties
this process's records (``clear``) on the first failed round trip and reads the database until
the cache answers again; ``on_unavailable`` records the use another way (API keys: straight
into the database) when the request was certainly not counted. A round trip that timed out
after it was sent may still run when a stalled Redis resumes, so that request's use is left to
Redis rather than written twice. When the per-request connection has to reconnect (Redis
restarted, perhaps without its last second of writes under ``appendfsync everysec``), the
records are emptied too.

A record that refuses the request it came with (``refuse``: an API key revoked, past its
expiry, of a deactivated owner, used from outside its allowlist, or naming another tenant than
its own) spends nothing of its own:
the request is counted in the client address's anonymous bucket instead, in a trip that also
confirms the record's generation, so a refusal is never decided on a stale copy.
"""

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import transaction

from core.cache import CACHE_ERRORS, Tally
from core.client_ip import client_ip
from core.errors import ServiceUnavailable
from core.lru import LRU
from metering import backends, throttles
from metering.meter import (
    Meter,
    MeterUnavailable,
    Reading,
    meter_for_ip,
    note_meter_unavailable,
    take,
)

logger = logging.getLogger(__name__)

MAX_ENTRIES = 50_000
MARKER_SECONDS = 60  # how long a retired generation stays a marker if the change never settles


class ChangeNotPropagated(ServiceUnavailable):
    """The shared cache did not confirm a change that narrows access: it was not made."""

    default_detail = (
        "The change could not be confirmed on every node, so it was not made. Try again shortly."
    )


@dataclass(frozen=True, slots=True)
class Verified:
    record: object  # an API key's Principal (key and owner loaded), or a user
    meter: Meter  # whose ``generation_of`` is this entry's cache key
    generation: str


_entries = LRU(MAX_ENTRIES)  # cache key -> Verified; the least recently used goes first


def serve(
    cache_key: str,
    *,
    load: Callable[[], object],
    meter_of: Callable[[object], Meter],
    request=None,
    on_unavailable: Callable[[object, str | None], None] | None = None,
    refuse: Callable[[object], Exception | None] | None = None,
    tally_of: Callable[[object, Exception], Tally | None] | None = None,
    shadow_of: Callable[[object], backends.Shadow | None] | None = None,
):
    """The verified record behind ``cache_key``, counting the request when there is one.

    ``load`` reads the record from the database and raises if there is none to serve (an API
    key's record is returned even when the key is revoked, for ``refuse`` to refuse);
    ``meter_of`` says how to count a request made with it; ``refuse`` returns the error that
    refuses this request with this record, or ``None``, before anything is counted on it;
    ``tally_of(request, refusal)`` the audit's tally such a refusal also counts, in the same
    trip (``audit.services.burst_tally``); ``shadow_of`` what rides the counting trip beside it
    (``apikeys.shadow``), or ``None``.
    """
    entry = _entries.get(cache_key)
    ip = client_ip(request) if request is not None else None
    if entry is not None:
        if request is None:
            return entry.record
        refusal = refuse(entry.record) if refuse is not None else None
        if refusal is not None:
            reading = count_refused(
                request,
                generation_of=cache_key,
                expected=entry.generation,
                tally=tally_of(request, refusal) if tally_of is not None else None,
                key_id=entry.meter.usage_key_id,
            )
            if reading is not STALE:
                _refuse(refusal, reading)
            forget(cache_key)
        else:
            try:
                reading = take(
                    entry.meter,
                    ip=ip,
                    expected_generation=entry.generation,
                    shadow=shadow_of(entry.record) if shadow_of is not None else None,
                )
            except MeterUnavailable as exc:
                # Unconfirmed: not served from here. One failed trip per request is enough.
                clear()
                return _serve_unmetered(load, meter_of, request, ip, on_unavailable, exc, refuse)
            if not reading.stale:
                throttles.attach_reading(request, reading)
                return entry.record
            forget(cache_key)

    try:
        generation = current_generation(cache_key)  # before the read: see the docstring
    except CACHE_ERRORS as exc:
        clear()
        if request is None:
            return load()
        return _serve_unmetered(load, meter_of, request, ip, on_unavailable, exc, refuse)
    record = load()
    meter = meter_of(record)
    generation = remember(cache_key, record, meter, generation)
    if request is not None:
        refusal = refuse(record) if refuse is not None else None
        if refusal is not None:
            _refuse(
                refusal,
                count_refused(
                    request,
                    tally=tally_of(request, refusal) if tally_of is not None else None,
                    key_id=meter.usage_key_id,
                ),
            )
        try:
            reading = take(
                meter, ip=ip, shadow=shadow_of(record) if shadow_of is not None else None
            )
        except MeterUnavailable as exc:
            clear()
            note_meter_unavailable(exc)
            if on_unavailable is not None and not exc.maybe_counted:
                on_unavailable(record, ip)
            reading = None
        else:
            if reading.generation != generation:
                forget(cache_key)  # changed while we read it: read again next time
        throttles.attach_reading(request, reading)
    return record


def _serve_unmetered(load, meter_of, request, ip, on_unavailable, exc, refuse=None):
    """The record from the database, its use recorded without the shared cache.

    A refused request records no use: with the shared cache away there is no anonymous bucket
    to count it in, and the key's own figures are not its to spend.
    """
    record = load()
    note_meter_unavailable(exc)
    if refuse is not None and (refusal := refuse(record)) is not None:
        throttles.attach_reading(request, None)
        raise refusal
    maybe_counted = getattr(exc, "maybe_counted", False)
    if on_unavailable is not None and not maybe_counted:
        on_unavailable(record, ip)
    throttles.attach_reading(request, None)
    return record


def get(cache_key: str) -> Verified | None:
    return _entries.get(cache_key)


def remember(cache_key: str, record, meter: Meter, generation: str | None) -> str | None:
    """Keep ``record``, read after ``current_generation`` gave ``generation``; the generation
    it is kept under (``None``: not kept, as read under a marker or beside another change).

    A generation is created only now that the record exists, so an unknown credential leaves
    nothing in the shared cache. Someone else's (a change's bump) may have come first: then
    this copy may be older than it, and is not kept.
    """
    if generation is MISSING:
        generation = claim_generation(cache_key)
    if generation is not None:
        # At the bound, the least recently used record goes.
        _entries.put(cache_key, Verified(record=record, meter=meter, generation=generation))
    return generation


def confirms(cache_key: str, entry: Verified) -> bool:
    """Whether ``entry`` is still current, for a verdict reached without counting anything.

    One read of the shared generation; ``False`` (and this process's records dropped) when the
    shared cache does not answer.
    """
    try:
        return current_generation(cache_key) == entry.generation
    except CACHE_ERRORS:
        clear()
        return False


STALE = object()  # what ``count_refused`` returns when the expected generation has moved on


def count_refused(
    request,
    *,
    generation_of: str | None = None,
    expected: str | None = None,
    tally=None,
    key_id: str | None = None,
):
    """Count a refused request in the client address's anonymous bucket, and remember it.

    With ``expected``, the same trip confirms that ``generation_of`` still holds that value;
    when it does not, nothing is counted and ``STALE`` is returned, for the caller to decide
    again from the database. ``None`` when the shared cache is unreachable (refusals are then
    not limited, as nothing else is). ``tally`` (the audit's refused-key counter) is counted in
    the same trip; so are the refused calls of ``key_id``, the API key refused (its usage chart).
    """
    ip = client_ip(request)
    meter = meter_for_ip(ip)
    if generation_of is not None or key_id is not None:
        meter = Meter(
            bucket=meter.bucket,
            windows=meter.windows,
            generation_of=generation_of,
            usage_key_id=key_id,
            usage_refused=key_id is not None,
        )
    try:
        reading = take(meter, ip=ip, expected_generation=expected, tally=tally)
    except MeterUnavailable as exc:
        note_meter_unavailable(exc)
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
    """Drop the record of ``cache_key`` from this process, and every session that rests on it."""
    _entries.pop(cache_key)
    if cache_key in _sessions_of:
        forget_sessions_of(cache_key)


def clear() -> None:
    """Drop every record, and so every session: nothing can be confirmed until they are read
    again. Verified tokens stay; a token's own check does not depend on the shared cache."""
    _entries.clear()
    forget_sessions()


def forget_everything() -> None:
    """Empty all three tables (tests, and a change of the keys tokens are signed with)."""
    clear()
    forget_tokens()


MISSING = ""  # the shared cache answered, and holds no generation for that record


def current_generation(cache_key: str) -> str | None:
    """The shared generation of ``cache_key``: ``MISSING`` if it has none, ``None`` under a marker.

    Raises one of ``CACHE_ERRORS`` when the shared cache does not answer. Nothing is created
    here, so an unknown credential leaves nothing in the shared cache (``claim_generation``
    creates one once the record is found).
    """
    generation = backends.active().generation_get(cache_key)
    if generation is None:
        return MISSING
    if generation.startswith(backends.MARKER_PREFIX):
        return None  # a change is under way: read, but do not remember
    return generation


def claim_generation(cache_key: str) -> str | None:
    """A new generation for ``cache_key`` if it still has none; else (or unreachable) ``None``."""
    try:
        return backends.active().generation_claim(cache_key) or None
    except CACHE_ERRORS:
        clear()
        return None


@contextmanager
def narrowing_change(*cache_keys: str):
    """Make the change inside the block everywhere, or nowhere (SPEC §10).

    The block runs in a transaction; before it commits, ``cache_keys`` (and whatever keys,
    users and memberships the block saves, through their signals) are retired in the shared
    cache. If that cannot be confirmed, ``ChangeNotPropagated`` (503 ``service_unavailable``)
    leaves the block and the transaction rolls back. Use it for every change that narrows
    access; ``apikeys.services`` and ``accounts.services`` do::

        with narrowing_change(cache_key_of_user(user.pk)):
            family.revoked_at = now
            family.save()

    Usable as a decorator too (``@narrowing_change()``).
    """
    with transaction.atomic():
        yield
        if cache_keys:
            retire_on_commit(*cache_keys)


def retire_on_commit(*cache_keys: str) -> None:
    """Retire ``cache_keys`` now and settle them once the transaction commits.

    Inside a transaction, a failure raises ``ChangeNotPropagated``, which rolls it back. In
    autocommit (a save outside any transaction: the shell, a data migration) the row is already
    committed, so the best left is to retire it after the fact, and say so loudly on failure.
    """
    for cache_key in cache_keys:
        forget(cache_key)
    if not transaction.get_connection().in_atomic_block:
        # A narrowing change made outside any transaction: say so, as it may not be everywhere.
        logger.warning("narrowing change saved outside a transaction; use narrowing_change")
        invalidate(*cache_keys)
        return
    marker = retire(*cache_keys)
    transaction.on_commit(lambda: settle(cache_keys, marker=marker))


def retire(*cache_keys: str) -> str:
    """Put a marker in place of each generation; ``ChangeNotPropagated`` if unconfirmed."""
    marker = backends.MARKER_PREFIX + secrets.token_hex(8)
    try:
        backends.active().generation_retire(cache_keys, marker=marker, ttl=MARKER_SECONDS)
    except CACHE_ERRORS as exc:
        logger.warning(
            "change not made: the shared cache did not confirm it (%s)", type(exc).__name__
        )
        raise ChangeNotPropagated() from exc
    return marker


def settle(cache_keys, *, marker: str) -> None:
    """After the commit: fresh generations in place of ``marker`` (see the docstring)."""
    for cache_key in cache_keys:
        forget(cache_key)
    try:
        backends.active().generation_settle(cache_keys, marker=marker)
    except CACHE_ERRORS:
        # The marker expires on its own; until then these records are read from the database.
        logger.warning("could not settle a generation: shared cache unavailable")


def invalidate_on_commit(*cache_keys: str) -> None:
    """For a change that cannot narrow access (a new membership, a session saved): best effort.

    The records are re-read everywhere once the change commits, if the shared cache answers
    then; if not, the change stands anyway, as it takes nothing away.
    """
    for cache_key in cache_keys:
        forget(cache_key)
    transaction.on_commit(lambda: invalidate(*cache_keys))


def invalidate(*cache_keys: str) -> None:
    """Move generations on now, for a change already committed."""
    for cache_key in cache_keys:
        forget(cache_key)
    try:
        backends.active().generation_settle(cache_keys, marker="")
    except CACHE_ERRORS:
        logger.warning("could not move a generation on: shared cache unavailable")


def secret_digest(secret: str) -> bytes:
    """The name a session key or a token is remembered by in process memory, never itself."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


# Tokens ------------------------------------------------------------------------------------

_tokens = LRU(MAX_ENTRIES)  # digest -> a token SimpleJWT verified


def verified_token(digest: bytes):
    return _tokens.get(digest)


def remember_token(digest: bytes, token) -> None:
    _tokens.put(digest, token)  # a token evicted costs one decode when next used


def forget_token(digest: bytes) -> None:
    _tokens.pop(digest)


def forget_tokens() -> None:
    _tokens.clear()


# Sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KnownSession:
    """A session Django has checked, as remembered: whose it is and until when."""

    user_id: str
    session_hash: str
    user_generation: str | None  # None: the user is known, the session not yet verified
    expires_at: float  # epoch seconds
    cache_key: str  # of the user's record, which it rests on


_sessions = LRU(MAX_ENTRIES)  # digest -> KnownSession
_sessions_of: dict[str, set[bytes]] = {}  # a record's cache key -> its sessions' digests
_sessions_lock = threading.Lock()  # over both together


def known_session(digest: bytes) -> KnownSession | None:
    known = _sessions.get(digest)
    if known is not None and known.expires_at <= time.time():
        forget_session(digest)
        return None
    return known


def remember_session(digest: bytes, known: KnownSession) -> None:
    with _sessions_lock:
        for evicted_digest, evicted in _sessions.put(digest, known):
            _unindex_session(evicted_digest, evicted)  # a forgotten session costs one more read
        _sessions_of.setdefault(known.cache_key, set()).add(digest)


def _unindex_session(digest: bytes, known: KnownSession) -> None:  # under ``_sessions_lock``
    digests = _sessions_of.get(known.cache_key)
    if digests is not None:
        digests.discard(digest)
        if not digests:
            del _sessions_of[known.cache_key]


def forget_session(digest: bytes) -> None:
    with _sessions_lock:
        known = _sessions.pop(digest)
        if known is not None:
            _unindex_session(digest, known)


def forget_sessions_of(cache_key: str) -> None:
    with _sessions_lock:
        for digest in _sessions_of.pop(cache_key, ()):
            _sessions.pop(digest)


def forget_sessions() -> None:
    with _sessions_lock:
        _sessions.clear()
        _sessions_of.clear()


backends.on_reconnect(clear)
