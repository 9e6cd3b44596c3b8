"""JWT (Bearer header or HttpOnly cookie) and session authentication, yielding a Principal.

Each class follows DRF's contract: ``None`` when the request does not use its scheme, 401 with a
SPEC §8 code (``token_expired``, ``invalid_token``) when it does and fails, ``(user, principal)``
otherwise.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings

from accounts import sessions
from accounts.access import (
    served_user,
    verified_access_token,
)
from accounts.services import TOKEN_REVOKED
from accounts.tokens import (
    invalid_token,
)
from core.nostore import no_store
from core.principal import AuthMethod, Principal
from identity.policy import cache_key_of_user
from metering import verified

ACCESS_COOKIE = "access_token"


class BearerJWTAuthentication(JWTAuthentication):
    """``Authorization: Bearer <jwt>``. Answers with our codes: token_expired / invalid_token."""

    www_authenticate_realm = "keyward"

    # SimpleJWT's ``__init__`` keeps the user model on the instance; its only reader,
    # ``get_user``, is not used (``_user_for`` serves users from the verified-record cache), so
    # the instance, shared by every request (``core.views.SharedAuthenticators``), holds nothing.
    __init__ = object.__init__

    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        try:
            raw_token = self.get_raw_token(header)
        except exceptions.AuthenticationFailed as exc:
            raise invalid_token() from exc
        if raw_token is None:
            return None
        return authenticate_access_token(raw_token.decode("latin-1"), request=request)


class CookieJWTAuthentication(BearerJWTAuthentication):
    """The HttpOnly ``access_token`` cookie set by the login page for browser clients."""

    def authenticate(self, request):
        raw_token = request.COOKIES.get(ACCESS_COOKIE)
        if not raw_token or _has_session_login(request):
            return None
        user, principal = authenticate_access_token(raw_token, request=request)
        # Cookies ride along on cross-site requests: enforce CSRF exactly as for sessions.
        KeywardSessionAuthentication().enforce_csrf(request)
        return user, principal


class KeywardSessionAuthentication(SessionAuthentication):
    """The session cookie, with the user served from the process cache of verified records.

    Django's ``get_user`` would read the user from the database on every request; here the
    user comes from ``metering.verified`` (one trip to the shared cache, which also counts the
    request) and the session is checked exactly as ``get_user`` checks it: a known backend and
    a session hash that matches the user's password. Anything unusual (a fallback secret, a
    mismatch) goes down Django's own path, which rotates or flushes the session.
    """

    def authenticate(self, request):
        user, expires_at = _session_user(request) or (getattr(request._request, "user", None), None)
        if not user or not user.is_active:
            return None
        self.enforce_csrf(request)
        return user, Principal(auth_method=AuthMethod.SESSION, user=user, expires_at=expires_at)


def _has_session_login(request) -> bool:
    """True when the request carries a logged-in session.

    A form login sets the session cookie and the ``access_token`` cookie together; the session
    is then the credential (``auth/verify`` answers ``session``), and the cookie JWT stands in
    only for a browser whose session has gone.
    """
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    session = getattr(request._request, "session", None)
    return session is not None and session.get(SESSION_KEY) is not None


def _session_user(request):
    """The session's user, counted, and when the session expires; ``None`` for Django to decide.

    A session this process has verified is served from ``accounts.sessions`` without reading
    it: the one trip that counts the request also confirms the user's generation, which any
    logout, session save or change to the user bumps. Otherwise the session is read and
    checked as Django's ``get_user`` checks it, and remembered for next time.
    """
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    digest = sessions.secret_digest(session_key)
    known = sessions.known_session(digest)
    if known is not None and known.user_generation is not None:
        user = _counted_session_user(known.user_id, request)
        if user is None:  # no longer active: Django's own path answers
            sessions.forget_session(digest)
            return None
        if _user_generation(known.user_id) == known.user_generation and constant_time_compare(
            known.session_hash, user.get_session_auth_hash()
        ):
            request._request.session.accessed = True  # Vary: Cookie, as a read would set
            request._request.user = user
            return user, _expiry(known.expires_at)
        sessions.forget_session(digest)
        return _checked_session_user(request, digest, known=known, counted=user)
    return _checked_session_user(request, digest, known=known)


def _checked_session_user(request, digest: bytes, *, known=None, counted=None):
    """Read the session and check it; remember it, with its user's generation once known.

    The generation remembered is the one this process held *before* reading the session (for
    the user a previous request found in it, ``known``), so a logout racing this read leaves
    the remembered session stale, never current.
    """
    session = getattr(request._request, "session", None)
    if session is None:
        return None
    before = _user_generation(known.user_id) if known is not None else None
    user_id = session.get(SESSION_KEY)
    if known is not None and str(user_id) != known.user_id:
        before, known = None, None
    backend = session.get(BACKEND_SESSION_KEY)
    session_hash = session.get(HASH_SESSION_KEY)
    if user_id is None or backend not in settings.AUTHENTICATION_BACKENDS or not session_hash:
        return None
    user = counted if counted is not None else _counted_session_user(user_id, request)
    if user is None or str(user.pk) != str(user_id):
        return None
    if not constant_time_compare(session_hash, user.get_session_auth_hash()):
        return None
    # A session's expiry moves only when it is saved, which makes it unknown again.
    expires_at = known.expires_at if known is not None else sessions.session_expiry(session)
    if expires_at is not None:
        current = before is not None and _user_generation(user_id) == before
        sessions.remember_session(
            digest,
            sessions.KnownSession(
                user_id=str(user_id),
                session_hash=session_hash,
                user_generation=before if current else None,
                expires_at=expires_at,
            ),
        )
    request._request.user = user
    return user, _expiry(expires_at)


def _expiry(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch is not None else None


def _counted_session_user(user_id, request):
    try:
        return served_user(user_id, request).user
    except exceptions.AuthenticationFailed:
        return None


def _user_generation(user_id) -> str | None:
    entry = verified.get(cache_key_of_user(user_id))
    return entry.generation if entry is not None else None


def authenticate_access_token(raw_token: str, *, request=None):
    """Validate an access JWT and return ``(user, principal)``; 401 with a §8 code otherwise.

    A refresh token presented as an access token fails SimpleJWT's type check: invalid_token.
    With a ``request``, the user's request is also counted against the user's rate limits; the
    user comes from this process's cache of verified records when it is current (one trip to
    the shared cache does both, see ``metering.verified``), else from the database.
    """
    token = verified_access_token(raw_token)
    user_id = token.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        raise invalid_token()
    active = served_user(user_id, request)
    if not active.accepts(token):
        raise invalid_token(TOKEN_REVOKED)
    user = active.user
    return user, Principal(
        auth_method=AuthMethod.JWT,
        user=user,
        expires_at=datetime.fromtimestamp(token["exp"], tz=UTC),
        token=token,
    )


def access_cookie_set(response, access_token: str) -> None:
    """Give a browser the access token as an HttpOnly cookie that lives as long as the token.

    The response now carries the token, so it is marked ``no-store`` (SPEC §9).
    """
    no_store(response)
    response.set_cookie(
        ACCESS_COOKIE,
        access_token,
        max_age=int(settings.KEYWARD_ACCESS_TOKEN_LIFETIME),
        path="/",
        secure=bool(settings.KEYWARD_HTTPS),
        httponly=True,
        samesite="Lax",
    )


def access_cookie_delete(response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/", samesite="Lax")
