"""JWT (Bearer header or HttpOnly cookie) and session authentication, yielding a Principal.

Each class follows DRF's contract: ``None`` when the request does not use its scheme, 401 with a
SPEC §8 code (``token_expired``, ``invalid_token``) when it does and fails, ``(user, principal)``
otherwise.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
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

    Django's ``get_user`` reads the session and the user on every request; here it runs once per
    session and process (``_checked_session_user``), and later requests are served from the
    remembered session and the user's record, both in the credential cache (``metering.verified``):
    one trip to the shared cache, which also counts the request and confirms the record.
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

    A session this process has verified is served from ``metering.verified`` without reading
    it: the one trip that counts the request also confirms the user's generation, which any
    logout, session save or change to the user bumps. Otherwise Django's own ``get_user``
    checks it, and it is remembered for next time.
    """
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    digest = verified.secret_digest(session_key)
    known = verified.known_session(digest)
    if known is not None and known.user_generation is not None:
        user = _counted_session_user(known.user_id, request)
        if user is None:  # no longer active: Django's own path answers
            verified.forget_session(digest)
            return None
        if _user_generation(known.user_id) == known.user_generation and constant_time_compare(
            known.session_hash, user.get_session_auth_hash()
        ):
            request._request.session.accessed = True  # Vary: Cookie, as a read would set
            request._request.user = user
            return user, _expiry(known.expires_at)
        verified.forget_session(digest)
        return _checked_session_user(request, digest, known=known, counted=user)
    return _checked_session_user(request, digest, known=known)


def _checked_session_user(request, digest: bytes, *, known=None, counted=None):
    """Django's own ``get_user`` checks the session — its backend, its hash against the user's
    password (rotating it under a fallback secret, flushing it on a mismatch); the user it finds
    is then counted (``counted``: already, in this request) and the session remembered.

    The generation remembered is the one this process held *before* reading the session (for
    the user a previous request found in it, ``known``), so a logout racing this read leaves
    the remembered session stale, never current.
    """
    django_request = request._request
    if getattr(django_request, "session", None) is None:
        return None
    before = _user_generation(known.user_id) if known is not None else None
    user = auth.get_user(django_request)
    django_request.user = user  # Django's verdict, for whoever asks next
    if not user.is_authenticated:
        return None
    user_id = str(user.pk)
    if known is not None and user_id != known.user_id:
        before = None
    if counted is None or str(counted.pk) != user_id:
        counted = _counted_session_user(user.pk, request)
    if counted is None:
        return None
    session = django_request.session
    # A session's expiry moves only when it is saved, which makes it unknown again.
    expires_at = known.expires_at if known is not None else sessions.session_expiry(session)
    # Remembered under the key the request presented, unless Django just gave it a new one.
    if expires_at is not None and session.session_key == request.COOKIES.get(
        settings.SESSION_COOKIE_NAME
    ):
        current = before is not None and _user_generation(user_id) == before
        verified.remember_session(
            digest,
            verified.KnownSession(
                user_id=user_id,
                session_hash=session.get(HASH_SESSION_KEY),
                user_generation=before if current else None,
                expires_at=expires_at,
                cache_key=cache_key_of_user(user_id),
            ),
        )
    django_request.user = counted
    return counted, _expiry(expires_at)


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
