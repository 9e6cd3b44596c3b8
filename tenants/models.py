import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class Tenant(models.Model):
    """An organisation whose data is kept apart from every other's."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant", "user"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="tenants_membership_unique"),
        ]

    def __str__(self):
        return f"{self.user} in {self.tenant} ({self.role})"


# SPEC §9: an invitation lives 7 days.
INVITATION_LIFETIME = timedelta(days=7)


def _invitation_expiry():
    return timezone.now() + INVITATION_LIFETIME


class TenantInvitation(models.Model):
    """An offer of membership to an email address, which only its holder may accept (SPEC §9).

    Nothing of the invited person changes until they accept: the membership is made then, by
    the same service that makes every other. A pending invitation past ``expires_at`` is dead.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        CANCELLED = "cancelled", "Cancelled"

    # Random, not a sequence: the id is all an invitee's accept/decline URL carries.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254, help_text="Stored lower-cased, as users' emails are.")
    role = models.CharField(max_length=10, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_invitation_expiry)
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was accepted, declined or cancelled."
    )

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            # Re-inviting a pending email renews that invitation (tenants.services).
            models.UniqueConstraint(
                fields=["tenant", "email"],
                condition=models.Q(status="pending"),
                name="tenants_invitation_one_pending",
            ),
        ]
        indexes = [models.Index(fields=["email", "status"], name="tenants_invitation_email")]

    def __str__(self):
        return f"{self.email} to {self.tenant} ({self.role}, {self.status})"
