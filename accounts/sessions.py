"""Sessions: Django's ``cached_db`` store, whose saves make the sessions remembered stale.

A warm session request should cost what a warm JWT request costs — one trip to the shared cache —
but Django reads the session from the cache on every request, a second trip. So a session that has
been checked is remembered in the credential cache (``metering.verified``), by digest of its key,
as the user it belongs to and that user's generation at the time. A session key never changes hands
(Django's ``login`` gives a new key to a new user), so what can end a remembered session is: logout
or any save of the session, a change to the user (deactivation, a new password) — each bumps the
user's generation, on every process and node — and the session's expiry, which is remembered with
it.

Remembering is safe against a race with a logout because the generation is the one read
*before* the session was read (as ``metering.verified`` does for rows): a logout after that
read bumps past it.
"""

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends import cached_db

from identity.policy import cache_key_of_user
from metering import verified


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
        # This process forgets the user's sessions at once; the others by the generation.
        verified.invalidate_on_commit(cache_key_of_user(user_id))


def session_expiry(session) -> float | None:
    """When the stored session expires (epoch seconds), ``None`` if it is not stored."""
    expire_date = (
        session.get_model_class()
        .objects.filter(session_key=session.session_key)
        .values_list("expire_date", flat=True)
        .first()
    )
    return expire_date.timestamp() if expire_date is not None else None
