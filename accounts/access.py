"""A person's access tokens, as every door checks them: verified once per process, then
checked on each use against the user's cached record (revocations, logins ended).

The DRF authentication classes (``accounts.authentication``), introspection
(``oauth.introspection``) and service clients' tokens (``oauth.authentication``) all read
tokens here, so a token is verified, and the record of an active user read, in one place.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, Token
from rest_framework_simplejwt.utils import aware_utcnow

from accounts.models import AccessTokenRevocation
from accounts.services import TOKEN_REVOKED, access_token_revocations_live
from accounts.tokens import (
    FAMILY_CLAIM,
    credentials_current,
    invalid_token,
    token_decode,
    token_expired,
)
from identity.policy import cache_key_of_user, meter_for_user
from metering import verified


def access_token_live(raw_token: str):
    """``(user, token)`` for an access token a request could use now; 401 otherwise.

    Read from the database, not this process's cache of users (introspection must not answer
    from a record another node has since changed), and counted against nobody.
    """
    token = verified_access_token(raw_token)
    user_id = token.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        raise invalid_token()
    active = active_user(user_id)
    if not active.accepts(token):
        raise invalid_token(TOKEN_REVOKED)
    return active.user, token


def verified_token(token_class: type[Token], raw_token: str) -> Token:
    """The token, checked by SimpleJWT once per process and its expiry on every use.

    A JWT cannot change, so once its signature and claims have passed ``token_class`` the only
    things that can make it unacceptable later are time (its ``exp``), its user or client
    changing, or a revocation — which the callers check on every request (``ActiveUser`` for a
    user, kept current by the user's generation in ``metering.verified``; the client's row for
    a client). Verifying the signature is most of a JWT request's cost (an ES256 or RS256
    signature far more than an HMAC), so it is paid once per token, not once per request.
    Tokens are remembered in the credential cache (``metering.verified``) by digest, never as
    themselves, with their class: a token verified as one class is never served as another.
    """
    digest = verified.secret_digest(raw_token)
    token = verified.verified_token(digest)
    if token is None or type(token) is not token_class:
        token = token_decode(token_class, raw_token)
        verified.remember_token(digest, token)
        return token
    try:
        token.check_exp(current_time=aware_utcnow())
    except TokenError as exc:
        verified.forget_token(digest)
        raise token_expired() from exc
    return token


def verified_access_token(raw_token: str) -> AccessToken:
    """A user's access token, verified once per process (``verified_token``)."""
    return verified_token(AccessToken, raw_token)


def is_verified_access_token(raw_token: str) -> bool:
    """True for a user access token this process has verified (it may have expired since)."""
    return type(verified.verified_token(verified.secret_digest(raw_token))) is AccessToken


@receiver(setting_changed)
def _forget_tokens_verified_with_other_keys(*, setting, **kwargs):
    if setting.startswith("KEYWARD_JWT_") or setting in (
        "SIMPLE_JWT",
        "KEYWARD_CLIENT_TOKEN_LIFETIME",
    ):
        verified.forget_tokens()


@dataclass(frozen=True, slots=True)
class ActiveUser:
    """The record cached for a user: the user, and which of their access tokens are revoked.

    Logout adds a revocation and bumps the user's generation, so the record is read again, on
    every process, with it; a warm request checks a token against it without a query.
    """

    user: object
    revoked_jtis: frozenset[str] = frozenset()
    revoked_families: frozenset[str] = frozenset()
    credentials_epoch: int | None = None  # ``user.credentials_epoch()``, worked out once

    def accepts(self, token) -> bool:
        """False for a token logged out, of a revoked login, or issued before logins ended."""
        if self.revoked_jtis and token.get(api_settings.JTI_CLAIM) in self.revoked_jtis:
            return False
        if self.revoked_families and token.get(FAMILY_CLAIM) in self.revoked_families:
            return False
        return credentials_current(
            token,
            valid_after=self.user.credentials_valid_after,
            epoch=self.credentials_epoch,
        )


def served_user(user_id, request) -> ActiveUser:
    return verified.serve(
        cache_key_of_user(user_id),
        load=lambda: active_user(user_id),
        meter_of=_meter_of_active_user,
        request=request,
    )


def _meter_of_active_user(active: ActiveUser):
    return meter_for_user(active.user)


def active_user(user_id) -> ActiveUser:
    user_model = get_user_model()
    try:
        user = user_model.objects.get(pk=user_id)
    except (user_model.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise invalid_token() from exc
    if not user.is_active:
        raise invalid_token()
    jtis, families = set(), set()
    for claim, value in access_token_revocations_live(user_id=user.pk):
        (jtis if claim == AccessTokenRevocation.Claim.JTI else families).add(value)
    return ActiveUser(
        user=user,
        revoked_jtis=frozenset(jtis),
        revoked_families=frozenset(families),
        credentials_epoch=user.credentials_epoch(),
    )
