"""User JWTs: access tokens, and refresh tokens that belong to a family.

Every login starts a family (``accounts.models.RefreshTokenFamily``); its refresh token carries
the family's id in the ``family`` claim, and rotation copies the claim into the successor. The
family is what reuse detection and logout revoke. Every token also carries ``cred_since``, the
user's ``credentials_valid_after`` when it was minted (``credentials_current``). SimpleJWT
signs, decodes and keeps the blacklist; the lifetimes are read from settings when a token is
made, not when SimpleJWT was imported.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import IssuedRefreshToken, RefreshTokenFamily

FAMILY_CLAIM = "family"
CREDENTIALS_CLAIM = "cred_since"
TOKEN_TYPE = "bearer"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def as_response(self) -> dict:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": TOKEN_TYPE,
            "expires_in": self.expires_in,
        }


class FamilyRefreshToken(RefreshToken):
    """A refresh token whose blacklist is checked by the caller, under the family's row lock.

    SimpleJWT checks the blacklist while decoding and reports a blacklisted token like any other
    invalid one; rotation must tell reuse apart (and check it inside the lock, not before it).
    """

    def check_blacklist(self) -> None:
        return None


def access_token_lifetime() -> int:
    return int(settings.KEYWARD_ACCESS_TOKEN_LIFETIME)


def refresh_token_lifetime() -> int:
    return int(settings.KEYWARD_REFRESH_TOKEN_LIFETIME)


def access_token_for_user(*, user) -> AccessToken:
    """A stand-alone access token, e.g. for the browser's ``access_token`` cookie."""
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=access_token_lifetime()))
    _stamp_credentials(token, user)
    return token


def _stamp_credentials(token, user) -> None:
    epoch = user.credentials_epoch()
    if epoch is not None:
        token[CREDENTIALS_CLAIM] = epoch


def credentials_current(token, *, valid_after, epoch: int | None) -> bool:
    """False for a token issued before the user's logins were last ended (SPEC §9).

    ``valid_after`` is the user's ``credentials_valid_after`` and ``epoch`` the same moment as
    ``User.credentials_epoch`` gives it (callers on the hot path work it out once per user). A
    token Keyward minted names the moment it was minted under, exactly, so no clock is
    compared. One minted elsewhere (SimpleJWT's ``for_user``, or before the claim existed) is
    judged by its ``iat``: whole seconds, so one minted in the very second the logins ended,
    even just after, is refused too — the safe side.
    """
    stamped = token.get(CREDENTIALS_CLAIM)
    if stamped is not None:
        return stamped == epoch
    if valid_after is None:
        return True
    issued_at = token.get("iat")
    if not isinstance(issued_at, int | float):
        return False
    return issued_at >= valid_after.timestamp()


def token_pair_issue(*, family: RefreshTokenFamily) -> TokenPair:
    """Mint a refresh token in ``family`` (recorded as outstanding) and its access token."""
    refresh = FamilyRefreshToken()
    refresh.set_exp(lifetime=timedelta(seconds=refresh_token_lifetime()))
    refresh[api_settings.USER_ID_CLAIM] = str(family.user_id)
    refresh[FAMILY_CLAIM] = str(family.pk)
    _stamp_credentials(refresh, family.user)  # copied into the access token below
    outstanding = OutstandingToken.objects.create(
        user_id=family.user_id,
        jti=refresh[api_settings.JTI_CLAIM],
        # SimpleJWT would store the token itself; a stolen database must not yield one.
        token="",
        created_at=refresh.current_time,
        expires_at=datetime_from_epoch(refresh["exp"]),
    )
    IssuedRefreshToken.objects.create(outstanding_token=outstanding, family=family)

    access = refresh.access_token
    access.set_exp(
        from_time=refresh.current_time, lifetime=timedelta(seconds=access_token_lifetime())
    )
    return TokenPair(
        access_token=str(access),
        refresh_token=str(refresh),
        expires_in=access_token_lifetime(),
    )


def token_decode(token_class, raw_token: str):
    """``token_class(raw_token)``: SimpleJWT checks signature, expiry and type; its errors
    become 401 ``token_expired`` / ``invalid_token``."""
    try:
        return token_class(raw_token)
    except ExpiredTokenError as exc:
        raise token_expired() from exc
    except TokenError as exc:
        raise invalid_token() from exc


def refresh_token_decode(raw_token: str) -> FamilyRefreshToken:
    """Check signature, expiry and type; 401 ``token_expired`` / ``invalid_token`` otherwise."""
    token = token_decode(FamilyRefreshToken, raw_token)
    # Only /auth/login mints refresh tokens here, and every one names its family and user.
    try:
        uuid.UUID(str(token.get(FAMILY_CLAIM)))
        int(token.get(api_settings.USER_ID_CLAIM))
    except (TypeError, ValueError) as exc:
        raise invalid_token() from exc
    return token


def invalid_token(detail: str = "Invalid token.") -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(detail, code="invalid_token")


def token_expired() -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed("Token has expired.", code="token_expired")


def token_reused() -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(
        "This refresh token was already used; every token of its login has been revoked.",
        code="token_reused",
    )


def refresh_token_live(raw_token: str):
    """``(token, user)`` for a refresh token that rotation would accept, ``None`` otherwise.

    Live means: genuine and unexpired, issued by a login, not yet rotated or blacklisted, its
    family not revoked, its user active, and issued since the user's logins last ended. Reads
    only (introspection, RFC 7662); rotation itself checks the same under the family's lock.
    """
    try:
        token = refresh_token_decode(raw_token)
    except exceptions.AuthenticationFailed:
        return None
    issue = (
        IssuedRefreshToken.objects.select_related("family__user")
        .filter(
            outstanding_token__jti=token[api_settings.JTI_CLAIM],
            outstanding_token__blacklistedtoken__isnull=True,
            family_id=token[FAMILY_CLAIM],
            rotated_at__isnull=True,
            family__revoked_at__isnull=True,
        )
        .first()
    )
    if issue is None:
        return None
    user = issue.family.user
    if str(user.pk) != str(token[api_settings.USER_ID_CLAIM]) or not user.is_active:
        return None
    if not credentials_current(
        token, valid_after=user.credentials_valid_after, epoch=user.credentials_epoch()
    ):
        return None
    return token, user
