import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.models import PermissionsMixin
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac

from core.bulk_writes import SignalledQuerySet

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Django's own salt: while a user's logins have never been ended, their sessions hash as
# Django's do, so sessions made before this field existed stay valid.
_SESSION_HASH_SALT = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"


class UserQuerySet(SignalledQuerySet):
    """A bulk write says which users it touched (``core.bulk_writes``), so that a user
    deactivated by ``update`` is refused everywhere, or not deactivated."""

    unsignalled_fields = frozenset({"last_login"})  # every login writes it; no record holds it


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_queryset(self):
        return UserQuerySet(self.model, using=self._db)

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    @classmethod
    def normalize_email(cls, email):
        """Emails are the login, so they compare case-insensitively: store them lower-cased."""
        return (email or "").strip().lower()

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields["is_staff"] is not True or extra_fields["is_superuser"] is not True:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        from tenants.services import tenant_create_personal

        # Like every registered user, a superuser (``createsuperuser``, the bootstrap owner)
        # gets a personal tenant, so tenant-scoped endpoints work for them from the start.
        with transaction.atomic(using=self._db):
            user = self._create_user(email, password, **extra_fields)
            tenant_create_personal(user=user)
        return user

    def get_by_natural_key(self, username):
        return self.get(email=self.normalize_email(username))


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in by email."""

    email = models.EmailField("email address", max_length=254, unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(
        default=False,
        help_text="Can log into the admin; the `admin` key scope acts only for staff.",
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Every session, refresh token and access token issued before this moment is refused
    # (SPEC §9 "Logout ends the login"). Set only by ``save`` below: a password change,
    # deactivation, or "sign out everywhere" (``end_logins``).
    credentials_valid_after = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Sessions and tokens issued before this are refused (password change, "
        "deactivation, sign out everywhere).",
    )

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self):
        return self.email

    @classmethod
    def from_db(cls, db, field_names, values):
        user = super().from_db(db, field_names, values)
        user._remember_stored()
        return user

    def save(self, *args, **kwargs):
        """Save; a password change or a deactivation also ends every login issued before it.

        ``credentials_valid_after`` is written only when logins end, never by an ordinary save:
        a copy of the user read before a "sign out everywhere" must not, saved later, move it
        back and revive what it ended.
        """
        if not self._state.adding and not kwargs.get("force_insert"):
            update_fields = kwargs.get("update_fields")
            if update_fields is None:
                deferred = self.get_deferred_fields()
                update_fields = [
                    field.name
                    for field in self._meta.concrete_fields
                    if not field.primary_key
                    and field.attname not in deferred
                    and field.name != "credentials_valid_after"
                ]
            if self._ends_logins(update_fields):
                self.credentials_valid_after = timezone.now()
                update_fields = {*update_fields, "credentials_valid_after"}
            kwargs["update_fields"] = update_fields
        super().save(*args, **kwargs)
        self._remember_stored()

    def end_logins(self) -> None:
        """Refuse every session and token of this user issued before now ("sign out everywhere")."""
        self.credentials_valid_after = timezone.now()
        super().save(update_fields=["credentials_valid_after"])

    def _ends_logins(self, update_fields) -> bool:
        """A new password (not the hasher's upgrade of the same one), or a deactivation.

        A first password, where the stored one was empty or unusable, ends nothing: no login can
        have used it. Django's ``check_password`` upgrades a hash with ``set_password`` then
        clears ``_password`` and saves only ``password``: that is the same password.
        """
        stored_password, stored_active = getattr(self, "_stored", (None, None))
        fields = set(update_fields)
        if "is_active" in fields and not self.is_active and stored_active is not False:
            return True
        if "password" not in fields or self.password == stored_password:
            return False
        if self._password is None and fields == {"password"}:
            return False  # the hasher's upgrade
        return stored_password is None or (
            bool(stored_password) and is_password_usable(stored_password)
        )

    def _remember_stored(self) -> None:
        """What the database holds now, to tell a password change or a deactivation."""
        self._stored = (self.__dict__.get("password"), self.__dict__.get("is_active"))

    def credentials_epoch(self) -> int | None:
        """``credentials_valid_after`` in whole microseconds since 1970, the tokens' claim."""
        if self.credentials_valid_after is None:
            return None
        return (self.credentials_valid_after - _EPOCH) // timedelta(microseconds=1)

    def get_session_auth_hash(self):
        return self._session_auth_hash(secret=None)

    def get_session_auth_fallback_hash(self):
        for fallback_secret in settings.SECRET_KEY_FALLBACKS:
            yield self._session_auth_hash(secret=fallback_secret)

    def _session_auth_hash(self, *, secret) -> str:
        """Django's HMAC of the password hash, and of when logins were last ended, if ever.

        Ending logins changes every session's hash, so each session ends on its next request
        without a search through the session store.
        """
        value = self.password
        if (epoch := self.credentials_epoch()) is not None:
            value = f"{value}:{epoch}"
        return salted_hmac(_SESSION_HASH_SALT, value, secret=secret, algorithm="sha256").hexdigest()

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)

    def get_full_name(self):
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self):
        return self.first_name


class RefreshTokenFamily(models.Model):
    """The refresh tokens descended from one login, rotated one into the next.

    Reusing a rotated token revokes the whole family (RFC 9700 §4.14.2): the server cannot tell
    whether the thief or the owner presented the old token, so neither keeps a live one. The row
    is also the lock that serialises every rotation and revocation of the family.
    """

    class RevokedReason(models.TextChoices):
        REUSE = "reuse", "A rotated token was reused"
        LOGOUT = "logout", "Logged out"
        LOGOUT_ALL = "logout_all", "Signed out everywhere"
        CREDENTIALS = "credentials", "Password changed or user deactivated"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="refresh_token_families"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(
        max_length=16, choices=RevokedReason.choices, blank=True, default=""
    )

    class Meta:
        verbose_name_plural = "refresh token families"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.user} since {self.created_at:%Y-%m-%d %H:%M}"


class IssuedRefreshToken(models.Model):
    """Which family an outstanding refresh token belongs to.

    SimpleJWT's ``OutstandingToken`` has no room for the family, and reading it back from each
    stored token would mean scanning them all; this indexed link lets a revocation blacklist the
    family's tokens in one query.
    """

    outstanding_token = models.OneToOneField(
        "token_blacklist.OutstandingToken",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="keyward_issue",
    )
    family = models.ForeignKey(
        RefreshTokenFamily, on_delete=models.CASCADE, related_name="issued_tokens"
    )
    # Set when the token is exchanged for its successor; presenting it again is reuse.
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.outstanding_token_id} in {self.family_id}"


class AccessTokenRevocation(models.Model):
    """Access tokens refused before they expire: one token (by ``jti``), or a login's (family).

    An access token is checked without the database; the user's cached record carries the
    user's live revocations (``accounts.authentication``), and adding one bumps the user's
    generation so that every process reads them again. A row is useless once every token it
    names has expired (``expires_at``), and ``pruneexpired`` deletes it.
    """

    class Claim(models.TextChoices):
        JTI = "jti", "One access token"
        FAMILY = "family", "Every access token of one login"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_token_revocations"
    )
    claim = models.CharField(max_length=8, choices=Claim.choices)
    value = models.CharField(max_length=255)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["claim", "value"], name="accounts_access_revocation_unique"
            ),
        ]
        indexes = [models.Index(fields=["user", "expires_at"], name="accounts_revocation_live")]

    def __str__(self):
        return f"{self.claim} {self.value} until {self.expires_at:%Y-%m-%d %H:%M}"
