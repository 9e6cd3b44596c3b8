import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

# What a webhook may subscribe to; each is an audit event type (the receiver filters on these).
EVENT_TYPES = (
    "api_key.expiring",
    "api_key.leaked",
    "api_key.canary_touched",
    "api_key.proposal_would_refuse_spike",
    "rate_limit.exhausted",
)


class Webhook(models.Model):
    """Where events of one user's or one tenant's keys are POSTed, signed with its secret.

    The secret is stored encrypted (``notifications.crypto``), not hashed: signing needs it back.
    It leaves the server once, in the answer that created the webhook.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhooks",
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    events = models.JSONField(default=list)
    secret_encrypted = models.TextField(editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, tenant__isnull=True)
                | Q(user__isnull=True, tenant__isnull=False),
                name="notifications_webhook_one_owner",
            ),
        ]

    def __str__(self):
        return f"{self.url} ({'tenant' if self.tenant_id else 'user'})"


class Delivery(models.Model):
    """One event sent (or being sent) to one webhook: the delivery log. Never the secret."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (gave up)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=64)
    audit_event_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["webhook", "-created_at"])]

    def __str__(self):
        return f"{self.event_type} → {self.webhook.url}: {self.status}"
