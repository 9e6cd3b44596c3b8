import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apikeys.crypto import HASH_LENGTH, KEY_PREFIX_LENGTH
from core.bulk_writes import SignalledQuerySet


class KeyType(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    PRODUCTION = "production", "Production"
    RESTRICTED = "restricted", "Restricted (client-side)"
    ADMIN = "admin", "Admin"
    # A honeytoken: looks like any key, never authorises, and every use is recorded
    # (apikeys/canary.py, docs/apikeys.md "Canary keys").
    CANARY = "canary", "Canary (never authorises; every use is recorded)"


# Written by the usage flush and the expiry warning: no process caches them with a key's record.
UNCACHED_FIELDS = frozenset(
    {
        "request_count",
        "last_used_at",
        "last_used_ip",
        "credits_remaining",
        "credits_refill_at",
        "expiry_warning_sent_at",
    }
)


class ApiKeyQuerySet(SignalledQuerySet):
    """A bulk write says which stored hashes it touched (``core.bulk_writes``), so that every
    process's cached records of those keys are retired as a save's would be."""

    identity_field = "key_hash"
    unsignalled_fields = UNCACHED_FIELDS


class ApiKey(models.Model):
    """A long-lived credential for programs. Only its keyed hash is stored (see crypto.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        help_text="The owner: the key acts on their behalf, never beyond their rights.",
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    key_prefix = models.CharField(max_length=KEY_PREFIX_LENGTH, db_index=True, editable=False)
    key_hash = models.CharField(max_length=HASH_LENGTH, unique=True, editable=False)
    key_type = models.CharField(max_length=16, choices=KeyType.choices, default=KeyType.DEVELOPMENT)
    scopes = models.JSONField(default=list, blank=True)
    endpoints = models.JSONField(
        default=list, blank=True, help_text='Grants: [{"path": "/api/v1/x", "methods": ["GET"]}]'
    )
    tenant = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text="Set at creation and never changed.",
    )
    key_manager = models.BooleanField(default=False)
    allowed_ips = models.JSONField(default=list, blank=True, help_text="CIDRs; empty = any")
    rate_limit = models.JSONField(
        null=True, blank=True, help_text='{"per_minute": n, "per_hour": n}; null = type default'
    )
    metadata = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    rotated_from = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="rotated_to"
    )
    # Credits (SPEC §12; metering.credits): null = unlimited. The live balance is the shared
    # cache's; these hold the last flushed copy, which seeds the cache when it has none.
    credits_remaining = models.BigIntegerField(
        null=True, blank=True, help_text="Credits left; empty = unlimited"
    )
    credits_refill_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Refill sets the credits left to this"
    )
    credits_refill_interval = models.CharField(
        max_length=8,
        blank=True,
        default="",
        choices=[("daily", "Daily"), ("monthly", "Monthly")],
        help_text="At the start of each UTC day or month; empty = never",
    )
    credits_refill_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Usage, flushed from the shared cache; apikeys.usage merges the buffer on every read.
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    request_count = models.BigIntegerField(default=0)
    # Traffic-aware expiry and rotation (apikeys/expiry.py): when the owner was told the key
    # expires soon while in use (told once), and a rotated-out key's quiet period that ends its
    # grace early.
    expiry_warning_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    end_grace_when_idle_seconds = models.PositiveIntegerField(null=True, blank=True)
    # The active proposals (``Proposal``), copied onto the row so that the one indexed probe
    # that authenticates a key brings them too: judging them costs no query (apikeys.shadow).
    # A database default too: a node still running the code before this column inserts keys.
    shadow = models.JSONField(
        default=list,
        db_default=models.Value([], output_field=models.JSONField()),
        blank=True,
        editable=False,
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name = "API key"
        # ``add_apikey`` lets a staff user issue keys to themselves only: a key is its owner's
        # credential, so issuing one for someone else (admin add form, rotate action) is acting
        # as them. That needs a superuser or this permission (docs/apikeys.md).
        permissions = [("add_apikey_for_others", "Can add API keys owned by other users")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(key_type=KeyType.RESTRICTED) | ~Q(scopes=[]) | ~Q(endpoints=[]),
                name="apikeys_restricted_never_full_access",
            ),
        ]
        indexes = [models.Index(fields=["user", "is_active"])]

    def __str__(self):
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def full_access(self) -> bool:
        """A key with neither scopes nor endpoint grants acts with its owner's full rights.

        A canary has neither, and acts with nothing.
        """
        return not self.is_canary and not self.scopes and not self.endpoints

    @property
    def is_canary(self) -> bool:
        return self.key_type == KeyType.CANARY

    @property
    def expiring_soon_in_use(self) -> bool:
        """Active, expires within ``KEYWARD_EXPIRY_WARNING_DAYS`` and was used within as many.

        The flag of SPEC §12 on the key object, the list, the dashboard and ``listapikeys``;
        ``apikeys.expiry`` tells the owner once.
        """
        now = timezone.now()
        window = timedelta(days=settings.KEYWARD_EXPIRY_WARNING_DAYS)
        return (
            self.is_active
            and self.expires_at is not None
            and now < self.expires_at <= now + window
            and self.last_used_at is not None
            and self.last_used_at >= now - window
        )

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def refusal(self) -> tuple[str, str] | None:
        """Why this key may not authenticate at all — ``(code, detail)`` — or ``None``.

        The one statement of the rule for requests, ``keys/verify`` and ``auth/check``. A
        canary is refused first, in every state, exactly as a key that does not exist.
        """
        if self.is_canary or not self.user.is_active:
            return "invalid_api_key", "Invalid API key."
        if not self.is_active:
            return "api_key_disabled", "This API key has been revoked."
        if self.is_expired():
            return "api_key_expired", "This API key has expired."
        return None


class ApiKeyDailyUsage(models.Model):
    """Requests per key per UTC day, flushed from the shared cache.

    ``count`` is the calls served (admitted); ``limited_count`` the calls over the key's rate
    limit (429) and ``refused_count`` those its own rules refused before use (IP allowlist,
    expiry, tenant): the usage chart's three series (SPEC §13).
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="daily_usage")
    date = models.DateField()
    count = models.BigIntegerField(default=0)
    limited_count = models.BigIntegerField(default=0)
    refused_count = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["api_key", "date"]
        constraints = [
            models.UniqueConstraint(fields=["api_key", "date"], name="apikeys_daily_usage_unique"),
        ]

    def __str__(self):
        return f"{self.api_key_id} {self.date}: {self.count}"


class InstallationState(models.Model):
    """One row that remembers, across restarts, whether any key was ever issued.

    Bootstrap is allowed only while ``keys_ever_issued`` is false; the flag is taken with a
    conditional UPDATE, so exactly one concurrent bootstrap wins.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    keys_ever_issued = models.BooleanField(default=False)
    bootstrapped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="apikeys_state_singleton")]

    def __str__(self):
        return f"keys ever issued: {self.keys_ever_issued}"


class Proposal(models.Model):
    """A change to a key run in report-only mode (SPEC §12 "Shadow restrictions").

    ``changes`` holds any of ``scopes``, ``endpoints``, ``allowed_ips`` and ``rate_limit``, in the
    form a key PATCH stores them. Requests are judged by it beside the live rules; ``judged``
    and ``would_refuse`` are flushed here from the shared cache with usage (``apikeys.usage``),
    and ``recent`` keeps the last would-be refusals, newest first. Applied, it stays as a record
    and is no longer judged.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="proposals")
    changes = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    judged = models.BigIntegerField(default=0)
    would_refuse = models.BigIntegerField(default=0)
    recent = models.JSONField(default=list, blank=True)  # [{method, path, ip, rule, at}]
    applied_at = models.DateTimeField(null=True, blank=True)
    spike_level = models.BigIntegerField(default=0)  # the last would-refuse threshold audited

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self):
        return f"proposal {self.pk} for {self.api_key_id}"


MAX_ROUTE_LENGTH = 512  # a longer route is not remembered


class ApiKeyRoute(models.Model):
    """A (method, route pattern) a key was seen calling on a UTC day: the least-privilege input.

    Recorded in the shared cache by the per-request script and flushed with usage; at most
    ``metering.backends.MAX_ROUTES_PER_DAY`` per key and day.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="routes")
    date = models.DateField()
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=MAX_ROUTE_LENGTH)

    class Meta:
        ordering = ["api_key", "date", "path", "method"]
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "date", "method", "path"], name="apikeys_route_unique"
            ),
        ]

    def __str__(self):
        return f"{self.api_key_id} {self.date}: {self.method} {self.path}"
