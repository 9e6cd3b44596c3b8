"""Sessions: Django's ``cached_db`` store, and the logged-in sessions this process has verified.

A warm session request should cost what a warm JWT request costs — one trip to the shared
cache — but Django reads the session from the cache on every request, a second trip. So a
session that has been checked is remembered here, by digest of its key, as the user it belongs
to and that user's generation (``metering.verified``) at the time. A session key never changes
hands (Django's ``login`` gives a new key to a new user), so what can end a remembered session
is: logout or any save of the session, a change to the user (deactivation, a new password) —
each bumps the user's generation, on every process and node — and the session's expiry, which
is remembered with it.

Remembering is safe against a race with a logout because the generation is the one read
*before* the session was read (as ``metering.verified`` does for rows): a logout after that
read bumps past it.
"""

import hashlib
import threading
import time
from dataclasses import dataclass

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends import cached_db

from core.lru import LRU
from identity.policy import cache_key_of_user
from metering import verified

MAX_SESSIONS = 50_000


class SessionStore(cached_db.SessionStore):
    """Django's ``cached_db`` sessions; saving or ending a logged-in one bumps its user."""

    def save(self, must_create=False):
        super().save(must_create)
        _user_changed(self._session.get(SESSION_KEY))

    def delete(self, session_key=None):
        own = session_key in (None, self.session_key)
        user_id = self._session.get(SESSION_KEY) if own else None
        super().delete(session_key)
        _user_changed(user_id)

    def flush(self):
        user_id = self._session.get(SESSION_KEY)  # ``flush`` empties the data before deleting
        super().flush()
        _user_changed(user_id)


def _user_changed(user_id) -> None:
    if user_id is not None:
        forget_sessions_of(str(user_id))  # this process at once; the others by the generation
        verified.invalidate_on_commit(cache_key_of_user(user_id))


@dataclass(frozen=True, slots=True)
class KnownSession:
    user_id: str
    session_hash: str
    user_generation: str | None  # None: the user is known, the session not yet verified
    expires_at: float  # epoch seconds


_known = LRU(MAX_SESSIONS)  # digest -> KnownSession; the least recently used goes first
_by_user: dict[str, set[bytes]] = {}  # the digests remembered for each user
_lock = threading.Lock()  # over both together


def secret_digest(secret: str) -> bytes:
    """The name a session key or a token is remembered by in process memory, never itself."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def known_session(digest: bytes) -> KnownSession | None:
    known = _known.get(digest)
    if known is not None and known.expires_at <= time.time():
        forget_session(digest)
        return None
    return known


def remember_session(digest: bytes, known: KnownSession) -> None:
    with _lock:
        for evicted_digest, evicted in _known.put(digest, known):
            _unindex(evicted_digest, evicted)  # a forgotten session costs one more read
        _by_user.setdefault(known.user_id, set()).add(digest)


def _unindex(digest: bytes, known: KnownSession) -> None:  # under ``_lock``
    digests = _by_user.get(known.user_id)
    if digests is not None:
        digests.discard(digest)
        if not digests:
            del _by_user[known.user_id]


def forget_session(digest: bytes) -> None:
    with _lock:
        known = _known.pop(digest)
        if known is not None:
            _unindex(digest, known)


def forget_sessions_of(user_id: str) -> None:
    with _lock:
        for digest in _by_user.pop(user_id, ()):
            _known.pop(digest)


def forget_sessions() -> None:
    with _lock:
        _known.clear()
        _by_user.clear()


def session_expiry(session) -> float | None:
    """When the stored session expires (epoch seconds), ``None`` if it is not stored."""
    expire_date = (
        session.get_model_class()
        .objects.filter(session_key=session.session_key)
        .values_list("expire_date", flat=True)
        .first()
    )
    return expire_date.timestamp() if expire_date is not None else None
