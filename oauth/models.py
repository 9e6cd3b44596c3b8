import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from oauth.crypto import HASH_LENGTH


class ServiceClient(models.Model):
    """A program that obtains access tokens with its own credentials (RFC 6749 §4.4).

    ``client_id`` is public and is the primary key; only a keyed hash of the secret is stored
    (see ``oauth/crypto.py``). Create, rotate and change clients through ``oauth.services``.
    """

    client_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    secret_hash = models.CharField(max_length=HASH_LENGTH, editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="service_clients",
        help_text="The one tenant the client acts in; set at creation and never changed.",
    )
    scopes = models.JSONField(
        default=list, help_text="The scopes a token may be granted; at least one."
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "client_id"]
        verbose_name = "service client"
        constraints = [
            # A client without scopes would hold a token that names no permission at all.
            models.CheckConstraint(condition=~Q(scopes=[]), name="oauth_serviceclient_has_scopes"),
        ]

    def __str__(self):
        return f"{self.name} ({self.client_id})"


class RevokedClientToken(models.Model):
    """A client access token revoked before it expired (RFC 7009), named by its ``jti``.

    Only the id is kept, never the token. The row is needed until ``expires_at``, when the token
    would stop working anyway.
    """

    jti = models.CharField(max_length=64, primary_key=True)
    client = models.ForeignKey(
        ServiceClient, on_delete=models.CASCADE, related_name="revoked_tokens"
    )
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "revoked client token"

    def __str__(self):
        return f"token {self.jti} of {self.client_id}"
