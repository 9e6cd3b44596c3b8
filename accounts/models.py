import uuid

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

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
