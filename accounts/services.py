"""Accounts' business rules: registration, login, token rotation, revocation and logout.

The API views, the web pages and the admin call these; none holds a rule of its own. Every
security-relevant outcome is written to the audit log, never with a password or a token.

What ends a login (SPEC §9): ``user_logout`` ends the session, the refresh token's family and
the access token presented; ``user_logout_all`` (and a password change or deactivation, through
``User.save``) ends everything issued before it. Each revocation bumps the user's generation
when it commits (``metering.verified``), so every process re-reads the user, with the user's
live access-token revocations, before the response returns.
"""

from datetime import timedelta

from django.contrib import auth
from django.contrib.auth import password_validation
from django.contrib.auth.models import update_last_login
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import AccessTokenRevocation, IssuedRefreshToken, RefreshTokenFamily, User
from accounts.ratelimits import login_rate_limit, normalised_email
from accounts.tokens import (
    FAMILY_CLAIM,
    FamilyRefreshToken,
    TokenPair,
    access_token_for_user,
    access_token_lifetime,
    credentials_current,
    invalid_token,
    refresh_token_decode,
    token_decode,
    token_pair_issue,
    token_reused,
)
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from audit.models import AuditEvent
from audit.services import audit_record
from core.domain_errors import Invalid
from identity.policy import cache_key_of_user
from metering import verified
from tenants.services import tenant_create_personal

TOKEN_REVOKED = "This token has been revoked."

DUPLICATE_EMAIL = "A user with this email address already exists."
INVALID_CREDENTIALS = "Invalid email or password."


def invalid_credentials() -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(INVALID_CREDENTIALS, code="invalid_credentials")


@transaction.atomic
def user_register(
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    request=None,
) -> User:
    """Create a user with their personal tenant; raise ``Invalid`` keyed by field.

    Django's password validators run against the would-be user (so a password like the email is
    refused) before any hashing.
    """
    email = User.objects.normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise Invalid({"email": [DUPLICATE_EMAIL]})
    user = User(email=email, first_name=first_name, last_name=last_name)
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise Invalid({"password": exc.messages}) from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent registration of the same email won the race
        raise Invalid({"email": [DUPLICATE_EMAIL]}) from exc
    tenant_create_personal(user=user)
    audit_record(event_type="user.registered", request=request, actor=user, target=user)
    return user


def user_authenticate(
    *, request, email: str, password: str, via: str, staff_only: bool = False
) -> User:
    """Every login door's check: count the attempt, check the password, audit the outcome.

    SPEC §9 "every login door is one door": the JSON and form logins, the pages and the Django
    admin all come here, so one email or one client IP has one budget whichever door it knocks
    on (``login_rate_limit``: 429 ``RateLimitExceeded`` when over, 503 ``ServiceUnavailable``
    when the cache cannot count), and every attempt leaves the same ``login.succeeded`` or
    ``login.failed`` row, ``via`` naming the door. The attempt is counted before the password
    is checked, so even the right password is refused once the budget is spent.

    Failures are one 401 ``invalid_credentials``. Django's ``authenticate`` runs the password
    hasher once whether or not the email exists (``ModelBackend`` hashes the password for an
    unknown user), so neither the answer nor its timing tells an attacker which emails have
    accounts. An inactive user fails the same way; with ``staff_only`` (the admin's door) so
    does a user who is not staff, as Django's admin login form would have it.
    """
    login_rate_limit(request, email=email)
    user = auth.authenticate(request, email=email, password=password)
    refused = {}
    if user is not None and staff_only and not user.is_staff:
        user, refused = None, {"reason": "not_staff"}
    if user is None:
        audit_record(
            event_type="login.failed",
            request=request,
            outcome=AuditEvent.Outcome.FAILURE,
            data={"email": normalised_email(email), "via": via, **refused},
        )
        raise invalid_credentials()
    audit_record(
        event_type="login.succeeded", request=request, actor=user, target=user, data={"via": via}
    )
    return user


def login_attempt_unreadable(*, request, email) -> None:
    """Count a login post its door could not read (a field missing or malformed).

    No password is checked, so nothing is audited; the attempt still costs the caller in both
    of ``user_authenticate``'s buckets, so malformed posts are no free way to probe the limits.
    """
    login_rate_limit(request, email=email)


@transaction.atomic
def user_login_tokens(*, user: User) -> TokenPair:
    """Start a token family for a fresh login and issue its first access/refresh pair."""
    family = RefreshTokenFamily.objects.create(user=user)
    update_last_login(None, user)
    return token_pair_issue(family=family)


def user_login_session(*, request, user: User) -> str:
    """Log ``user`` into a Django session; return an access token for the browser's cookie.

    ``auth.login`` cycles the session key and the CSRF token, so nothing set before login
    survives it.
    """
    auth.login(request, user)
    return str(access_token_for_user(user=user))


def refresh_token_rotate(*, raw_token: str, request=None) -> TokenPair:
    """Exchange a refresh token for a new pair, exactly once.

    The old token is blacklisted and its successor joins the same family. Presenting a token
    that was already rotated is reuse: 401 ``token_reused``, and the family is revoked if it
    was not already. All of it happens under the family's
    row lock, so of two concurrent refreshes of one token the second sees the first's rotation
    and counts as reuse (SimpleJWT alone checks the blacklist, then writes, unlocked).
    """
    token = refresh_token_decode(raw_token)
    pair, reused_family = _rotate(token)
    if reused_family is not None:
        audit_record(
            event_type="token.reused",
            request=request,
            actor=reused_family.user,
            target=reused_family.user,
            outcome=AuditEvent.Outcome.FAILURE,
            data={"family": str(reused_family.pk)},
        )
        raise token_reused()
    return pair


@transaction.atomic
def _rotate(token: FamilyRefreshToken) -> tuple[TokenPair | None, RefreshTokenFamily | None]:
    family = _family_for_update(token)
    if not family.user.is_active:
        raise invalid_token()
    issue = (
        IssuedRefreshToken.objects.select_related("outstanding_token")
        .filter(family=family, outstanding_token__jti=token[api_settings.JTI_CLAIM])
        .first()
    )
    user = family.user
    if issue is None or not credentials_current(
        token, valid_after=user.credentials_valid_after, epoch=user.credentials_epoch()
    ):
        raise invalid_token(TOKEN_REVOKED if issue is not None else "Invalid token.")
    if issue.rotated_at is not None:
        token_family_revoke(family=family, reason=RefreshTokenFamily.RevokedReason.REUSE)
        return None, family
    if (
        family.revoked_at is not None
        or BlacklistedToken.objects.filter(token=issue.outstanding_token).exists()
    ):
        raise invalid_token(TOKEN_REVOKED)
    issue.rotated_at = timezone.now()
    issue.save(update_fields=["rotated_at"])
    BlacklistedToken.objects.create(token=issue.outstanding_token)
    return token_pair_issue(family=family), None


@transaction.atomic
def token_family_revoke(*, family: RefreshTokenFamily, reason: str) -> int:
    """Revoke every refresh and access token of ``family``; return how many refresh tokens
    were newly blacklisted."""
    if family.revoked_at is None:
        family.revoked_at = timezone.now()
        family.revoked_reason = reason
        family.save(update_fields=["revoked_at", "revoked_reason"])
    # Its access tokens were all minted by now, so none outlives one access lifetime from now.
    _access_revoke(
        user_id=family.user_id,
        claim=AccessTokenRevocation.Claim.FAMILY,
        value=str(family.pk),
        expires_at=timezone.now() + timedelta(seconds=access_token_lifetime()),
    )
    return _blacklist(OutstandingToken.objects.filter(keyward_issue__family=family))


def _blacklist(outstanding_tokens) -> int:
    live = outstanding_tokens.filter(blacklistedtoken__isnull=True)
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=outstanding) for outstanding in live], ignore_conflicts=True
    )
    return len(created)


def _access_revoke(*, user_id, claim: str, value: str, expires_at) -> None:
    """Refuse access tokens by ``claim`` until ``expires_at``, on every process once committed."""
    AccessTokenRevocation.objects.bulk_create(
        [AccessTokenRevocation(user_id=user_id, claim=claim, value=value, expires_at=expires_at)],
        ignore_conflicts=True,
    )
    verified.retire_on_commit(cache_key_of_user(user_id))  # everywhere or nowhere (SPEC §10)


@transaction.atomic
def user_token_families_revoke(*, user_id, reason: str) -> int:
    """Revoke every live refresh token family of a user; return how many tokens were blacklisted.

    Their access tokens need no revocation row: this is called when the user's logins end, and
    ``credentials_valid_after`` refuses those.
    """
    RefreshTokenFamily.objects.filter(user_id=user_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason
    )
    return _blacklist(
        OutstandingToken.objects.filter(
            keyward_issue__family__user_id=user_id, expires_at__gt=timezone.now()
        )
    )


def access_token_revoke(*, raw_token: str, strict: bool = True) -> User | None:
    """Log out the login an access token belongs to: refuse the token, and its family if any.

    Returns the token's user. An expired token is already refused and needs nothing (``None``);
    a tampered one, or a refresh token, is 401 ``invalid_token`` — or, not ``strict`` (a
    browser's own cookie, which logout deletes anyway), nothing.
    """
    try:
        token = token_decode(AccessToken, raw_token)
    except exceptions.AuthenticationFailed as exc:
        if exc.get_codes() == "token_expired" or not strict:
            return None
        raise
    try:
        user = User.objects.filter(pk=token.get(api_settings.USER_ID_CLAIM)).first()
    except (ValueError, TypeError, OverflowError):
        user = None
    if user is None:  # deleted, or not a user's token: no login to end
        return None
    with transaction.atomic():
        _access_revoke(
            user_id=user.pk,
            claim=AccessTokenRevocation.Claim.JTI,
            value=str(token[api_settings.JTI_CLAIM]),
            expires_at=datetime_from_epoch(token["exp"]),
        )
        if family_id := token.get(FAMILY_CLAIM):
            family = (
                RefreshTokenFamily.objects.select_for_update()
                .filter(pk=family_id, user=user)
                .first()
            )
            if family is not None:
                token_family_revoke(family=family, reason=RefreshTokenFamily.RevokedReason.LOGOUT)
    return user


def access_token_revocations_live(*, user_id) -> list[tuple[str, str]]:
    """``(claim, value)`` of every revocation of the user's access tokens still in force."""
    return list(
        AccessTokenRevocation.objects.filter(
            user_id=user_id, expires_at__gt=timezone.now()
        ).values_list("claim", "value")
    )


def access_token_revocations_prune(*, before) -> int:
    """Delete revocations whose every token expired before ``before``."""
    deleted, _ = AccessTokenRevocation.objects.filter(expires_at__lt=before).delete()
    return deleted


def refresh_token_revoke(*, raw_token: str) -> RefreshTokenFamily | None:
    """Log out the login a refresh token belongs to: revoke its whole family.

    An expired token is already useless, so it needs nothing (and returns ``None``); a tampered
    or foreign token is 401 ``invalid_token``.
    """
    try:
        token = refresh_token_decode(raw_token)
    except exceptions.AuthenticationFailed as exc:
        if exc.get_codes() == "token_expired":
            return None
        raise
    with transaction.atomic():
        family = _family_for_update(token)
        token_family_revoke(family=family, reason=RefreshTokenFamily.RevokedReason.LOGOUT)
    return family


@transaction.atomic
def user_logout(
    *,
    request,
    refresh_token: str | None = None,
    access_token: str | None = None,
    cookie_access_token: str | None = None,
) -> None:
    """End the session (if any), the refresh token's family and the access tokens given.

    ``access_token`` is one the caller presented (a Bearer header): if it is not a valid
    access token the answer is 401 and nothing changes. ``cookie_access_token`` is the
    browser's cookie: revoked if it is valid, ignored otherwise. One transaction: every
    revocation commits, and is announced to every process, together, before the caller
    answers.
    """
    user = request.user if request.user.is_authenticated else None
    family = refresh_token_revoke(raw_token=refresh_token) if refresh_token else None
    if user is None and family is not None:
        user = family.user
    token_users = []
    if access_token:
        token_users.append(access_token_revoke(raw_token=access_token))
    if cookie_access_token and cookie_access_token != access_token:
        token_users.append(access_token_revoke(raw_token=cookie_access_token, strict=False))
    user = user or next((token_user for token_user in token_users if token_user), None)
    auth.logout(request)
    if user is not None:
        # The session's end is everywhere or nowhere too: cached sessions hang off the user.
        verified.retire_on_commit(cache_key_of_user(user.pk))
        audit_record(event_type="logout", request=request, actor=user, target=user)


@transaction.atomic
def user_logout_all(*, request, user: User, revoke_keys: bool = False) -> int:
    """Sign out everywhere: end every session and token of ``user`` issued before now.

    With ``revoke_keys``, also revoke every active key the user owns (through
    ``api_key_revoke``, as one revocation each). Returns how many keys were revoked.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    user_token_families_revoke(user_id=user.pk, reason=RefreshTokenFamily.RevokedReason.LOGOUT_ALL)
    user.end_logins()
    keys_revoked = 0
    if revoke_keys:
        for api_key in ApiKey.objects.filter(user=user, is_active=True).select_related("user"):
            api_key_revoke(api_key=api_key, actor=user, request=request)
            keys_revoked += 1
    if request.user.is_authenticated:
        auth.logout(request)
    audit_record(
        event_type="logout.all",
        request=request,
        actor=user,
        target=user,
        data={"keys_revoked": keys_revoked},
    )
    return keys_revoked


def _family_for_update(token: FamilyRefreshToken) -> RefreshTokenFamily:
    """The token's family, row-locked until the transaction ends; 401 if it is gone."""
    family = (
        RefreshTokenFamily.objects.select_for_update()
        .filter(pk=token[FAMILY_CLAIM], user_id=token[api_settings.USER_ID_CLAIM])
        .first()
    )
    if family is None:  # the user was deleted, and their families with them
        raise invalid_token()
    return family


def refresh_tokens_prune(*, before) -> int:
    """Delete refresh tokens (and their blacklist rows) that expired before ``before``."""
    _, deleted = OutstandingToken.objects.filter(expires_at__lt=before).delete()
    return deleted.get(OutstandingToken._meta.label, 0)
