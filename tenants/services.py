"""Writes on tenants, memberships and invitations, and the role rules that guard them.

Every change writes the audit log. ``actor_role`` is the caller's role in the tenant
(``tenants.resolution.TenantAccess.role``); ``None`` means the caller is not a member (staff
looking on), and no write is open to them. Changes to a tenant's members run with the tenant's
row locked, so two concurrent changes can never leave it without an owner. A person joins a
tenant only by accepting an invitation (SPEC §9); ``member_add`` is the operator's direct way.
"""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.services import audit_record
from core.domain_errors import Invalid, NotAllowed, NotFound
from tenants.models import INVITATION_LIFETIME, Membership, Tenant, TenantInvitation
from tenants.selectors import (
    invitation_get_for_user,
    invitation_get_live,
    member_get,
    member_stranded_without,
)

Role = Membership.Role
Status = TenantInvitation.Status
MANAGERS = frozenset({Role.OWNER, Role.ADMIN})

SLUG_TAKEN = "This slug is already taken."
LAST_OWNER = "A tenant must keep at least one owner: make another member an owner first."
ONLY_TENANT = "{email} belongs to no other tenant, and every user keeps at least one."
ALREADY_MEMBER = "This person is already a member."
NO_SUCH_INVITATION = "No such invitation."


@transaction.atomic
def tenant_create(*, name: str, owner, slug: str | None = None, request=None, actor=None) -> Tenant:
    """Create a tenant with ``owner`` as its owner.

    An explicit ``slug`` that is taken is a validation error; without one, a free slug is
    derived from the name.
    """
    if slug:
        tenant = _tenant_insert(name=name, slug=slug)
        if tenant is None:
            raise Invalid({"slug": [SLUG_TAKEN]})
    else:
        tenant = None
        while tenant is None:  # another request may take the derived slug first
            tenant = _tenant_insert(name=name, slug=_free_slug(name))
    Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
    audit_record(
        event_type="tenant.created",
        request=request,
        actor=actor,
        target=tenant,
        tenant_id=tenant.pk,
        data={"name": tenant.name, "slug": tenant.slug, "owner": owner.email},
    )
    return tenant


def tenant_create_personal(*, user) -> Tenant:
    """The tenant every user gets at registration, so each belongs to at least one."""
    return tenant_create(name=personal_tenant_name(user), owner=user, actor=user)


def personal_tenant_name(user) -> str:
    local_part = user.email.split("@", 1)[0]
    return f"{user.get_full_name() or local_part}'s workspace"


@transaction.atomic
def tenant_update(
    *, tenant: Tenant, actor_role: str | None, name=None, slug=None, request=None
) -> Tenant:
    """Rename a tenant or change its slug: owners only (SPEC §4: "update, delete by owner")."""
    _require(actor_role == Role.OWNER, "Only an owner may change a tenant.")
    changes = {}
    if name is not None and name != tenant.name:
        changes["name"] = name
    if slug is not None and slug != tenant.slug:
        if Tenant.objects.filter(slug=slug).exclude(pk=tenant.pk).exists():
            raise Invalid({"slug": [SLUG_TAKEN]})
        changes["slug"] = slug
    if not changes:
        return tenant
    before = {field: getattr(tenant, field) for field in changes}
    for field, value in changes.items():
        setattr(tenant, field, value)
    try:
        with transaction.atomic():
            tenant.save(update_fields=list(changes))
    except IntegrityError as exc:  # a concurrent change took the slug
        raise Invalid({"slug": [SLUG_TAKEN]}) from exc
    audit_record(
        event_type="tenant.updated",
        request=request,
        target=tenant,
        tenant_id=tenant.pk,
        data={"before": before, "after": changes},
    )
    return tenant


@transaction.atomic
def tenant_delete(*, tenant: Tenant, actor_role: str | None, request=None) -> None:
    """Delete a tenant with its agents and tenant-bound keys: owners only.

    Refused while the tenant is the only one of any member, who would be left with none.
    """
    _require(actor_role == Role.OWNER, "Only an owner may delete a tenant.")
    tenant = _locked(tenant)
    stranded = member_stranded_without(tenant=tenant)
    if stranded is not None:
        raise Invalid({"non_field_errors": [ONLY_TENANT.format(email=stranded.user.email)]})
    audit_record(
        event_type="tenant.deleted",
        request=request,
        target=tenant,
        tenant_id=tenant.pk,
        data={"name": tenant.name, "slug": tenant.slug},
    )
    tenant.delete()


@transaction.atomic
def member_add(
    *, tenant: Tenant, actor_role: str | None, email: str, role: str, request=None
) -> Membership:
    """Add an existing user by email at once: the operator's way (the admin's inline).

    The API and the pages invite instead (``invitation_create``): a person joins a tenant only
    by accepting (SPEC §9).
    """
    _require(actor_role in MANAGERS, "Only an owner or admin may add members.")
    _require(role != Role.OWNER or actor_role == Role.OWNER, "Only an owner may add another owner.")
    user_model = get_user_model()
    user = user_model.objects.filter(
        email=user_model.objects.normalize_email(email), is_active=True
    ).first()
    if user is None:
        raise Invalid({"email": ["No active user has this email address."]})
    return membership_create(tenant=tenant, user=user, role=role, request=request)


@transaction.atomic
def membership_create(
    *, tenant: Tenant, user, role: str, request=None, invitation=None
) -> Membership:
    """Make ``user`` a member of ``tenant``: every way of joining ends here.

    The caller has checked who may do it; this writes the membership and ``member.added``.
    """
    tenant = _locked(tenant)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    except IntegrityError as exc:
        raise Invalid({"email": [ALREADY_MEMBER]}) from exc
    data = {"user_id": user.pk, "email": user.email, "role": role}
    if invitation is not None:
        data["invitation_id"] = str(invitation.pk)
    audit_record(
        event_type="member.added",
        request=request,
        target=membership,
        tenant_id=tenant.pk,
        data=data,
    )
    return membership


@transaction.atomic
def member_role_change(
    *, tenant: Tenant, actor_role: str | None, user_id, role: str, request=None
) -> Membership:
    """Change a member's role. Owners manage everyone; admins manage admins and members."""
    _require(actor_role in MANAGERS, "Only an owner or admin may change roles.")
    tenant = _locked(tenant)
    membership = _member(tenant, user_id)
    if actor_role != Role.OWNER:
        _require(membership.role != Role.OWNER, "Only an owner may change an owner's role.")
        _require(role != Role.OWNER, "Only an owner may make another member an owner.")
    previous = membership.role
    if previous == role:
        return membership
    if previous == Role.OWNER:
        _keep_an_owner(tenant, field="role")
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        event_type="member.role_changed",
        request=request,
        target=membership,
        tenant_id=tenant.pk,
        data={"user_id": membership.user_id, "from": previous, "to": role},
    )
    return membership


@transaction.atomic
def member_remove(*, tenant: Tenant, actor, actor_role: str | None, user_id, request=None) -> None:
    """Remove a member: owners anyone, admins admins and members, anyone themself."""
    tenant = _locked(tenant)
    membership = _member(tenant, user_id)
    leaving = actor is not None and membership.user_id == actor.pk
    if not leaving:
        _require(actor_role in MANAGERS, "Only an owner or admin may remove other members.")
        _require(
            membership.role != Role.OWNER or actor_role == Role.OWNER,
            "Only an owner may remove an owner.",
        )
    if membership.role == Role.OWNER:
        _keep_an_owner(tenant, field="non_field_errors")
    if not Membership.objects.filter(user_id=membership.user_id).exclude(pk=membership.pk).exists():
        raise Invalid({"non_field_errors": [ONLY_TENANT.format(email=membership.user.email)]})
    audit_record(
        event_type="member.removed",
        request=request,
        target=membership,
        tenant_id=tenant.pk,
        data={
            "user_id": membership.user_id,
            "email": membership.user.email,
            "role": membership.role,
        },
    )
    membership.delete()


# --- invitations (SPEC §9: members join by consent) ---------------------------------------
#
# Locks are taken in one order, the tenant's row first and then the invitation's, so an
# accept, a decline, a cancel and a renewal of one invitation queue instead of deadlocking.


@transaction.atomic
def invitation_create(
    *, tenant: Tenant, actor, actor_role: str | None, email: str, role: str, request=None
) -> TenantInvitation:
    """Invite ``email`` to ``tenant``: owners and admins; only an owner may invite an owner.

    Nothing here looks for an account with that email, so neither the answer nor its timing
    can tell whether one exists. Inviting an email whose invitation is still open renews that
    one invitation (same id; the latest role and inviter; 7 days from now). Inviting someone
    already a member is a validation error: the inviter sees the member list anyway.
    """
    _require(actor_role in MANAGERS, "Only an owner or admin may invite members.")
    _require(
        role != Role.OWNER or actor_role == Role.OWNER, "Only an owner may invite another owner."
    )
    email = get_user_model().objects.normalize_email(email)
    tenant = _locked(tenant)
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise Invalid({"email": [ALREADY_MEMBER]})
    now = timezone.now()
    invitation = (
        TenantInvitation.objects.select_for_update()
        .filter(tenant=tenant, email=email, status=Status.PENDING)
        .first()
    )
    renewed = invitation is not None
    if renewed:
        invitation.role = role
        invitation.invited_by = actor
        invitation.expires_at = now + INVITATION_LIFETIME
        invitation.save(update_fields=["role", "invited_by", "expires_at"])
    else:
        invitation = TenantInvitation.objects.create(
            tenant=tenant,
            email=email,
            role=role,
            invited_by=actor,
            created_at=now,
            expires_at=now + INVITATION_LIFETIME,
        )
    audit_record(
        event_type="invitation.created",
        request=request,
        target=invitation,
        tenant_id=tenant.pk,
        data={
            "invitation_id": str(invitation.pk),
            "email": email,
            "role": role,
            "renewed": renewed,
        },
    )
    return invitation


def invitation_read_check(*, actor_role: str | None) -> None:
    """Open invitations are read by owners and admins, and by staff looking on (no role)."""
    _require(
        actor_role is None or actor_role in MANAGERS,
        "Only an owner or admin may see the tenant's invitations.",
    )


@transaction.atomic
def invitation_cancel(
    *, tenant: Tenant, actor_role: str | None, invitation_id, request=None
) -> TenantInvitation:
    """Withdraw an open invitation: owners and admins (withdrawing grants nobody anything)."""
    _require(actor_role in MANAGERS, "Only an owner or admin may cancel invitations.")
    tenant = _locked(tenant)
    invitation = _locked_invitation(invitation_get_live(tenant=tenant, invitation_id=invitation_id))
    _close(invitation, Status.CANCELLED)
    audit_record(
        event_type="invitation.cancelled",
        request=request,
        target=invitation,
        tenant_id=tenant.pk,
        data={"invitation_id": str(invitation.pk), "email": invitation.email},
    )
    return invitation


@transaction.atomic
def invitation_accept(*, user, invitation_id, request=None) -> tuple[TenantInvitation, Membership]:
    """Join the tenant of ``user``'s open invitation, with its role: the one way in by consent.

    Another person's invitation, a closed or an expired one, reads as none (404). Someone who
    has meanwhile become a member (an operator added them) keeps their role; the invitation
    closes as accepted.
    """
    tenant, invitation = _open_invitation_of(user, invitation_id)
    membership = Membership.objects.filter(tenant=tenant, user=user).first()
    if membership is None:
        membership = membership_create(
            tenant=tenant, user=user, role=invitation.role, request=request, invitation=invitation
        )
    _close(invitation, Status.ACCEPTED)
    audit_record(
        event_type="invitation.accepted",
        request=request,
        actor=user,
        target=invitation,
        tenant_id=tenant.pk,
        data={
            "invitation_id": str(invitation.pk),
            "email": invitation.email,
            "user_id": user.pk,
            "role": membership.role,
        },
    )
    return invitation, membership


@transaction.atomic
def invitation_decline(*, user, invitation_id, request=None) -> TenantInvitation:
    """Refuse ``user``'s open invitation; nothing else changes."""
    tenant, invitation = _open_invitation_of(user, invitation_id)
    _close(invitation, Status.DECLINED)
    audit_record(
        event_type="invitation.declined",
        request=request,
        actor=user,
        target=invitation,
        tenant_id=tenant.pk,
        data={"invitation_id": str(invitation.pk), "email": invitation.email, "user_id": user.pk},
    )
    return invitation


def invitation_prune_expired(*, before) -> int:
    """Delete invitations left pending past their expiry; return how many went."""
    deleted, _ = TenantInvitation.objects.filter(
        status=Status.PENDING, expires_at__lt=before
    ).delete()
    return deleted


def _open_invitation_of(user, invitation_id) -> tuple[Tenant, TenantInvitation]:
    """``user``'s open invitation, locked after its tenant's row; else 404."""
    found = invitation_get_for_user(user=user, invitation_id=invitation_id)
    if found is None:
        raise NotFound(NO_SUCH_INVITATION, code="not_found")
    return _locked(found.tenant), _locked_invitation(found)


def _locked_invitation(invitation: TenantInvitation | None) -> TenantInvitation:
    """The invitation's row, locked and read again (it may have closed meanwhile); else 404."""
    if invitation is not None:
        invitation = (
            TenantInvitation.objects.select_for_update()
            .filter(pk=invitation.pk, status=Status.PENDING, expires_at__gt=timezone.now())
            .first()
        )
    if invitation is None:
        raise NotFound(NO_SUCH_INVITATION, code="not_found")
    return invitation


def _close(invitation: TenantInvitation, status: str) -> None:
    invitation.status = status
    invitation.closed_at = timezone.now()
    invitation.save(update_fields=["status", "closed_at"])


def _require(condition: bool, detail: str) -> None:
    if not condition:
        raise NotAllowed(detail, code="insufficient_permissions")


def _locked(tenant: Tenant) -> Tenant:
    """The tenant's row, locked until the transaction ends: membership changes queue here."""
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


def _member(tenant: Tenant, user_id) -> Membership:
    membership = member_get(tenant=tenant, user_id=user_id)
    if membership is None:
        raise NotFound("No such member of this tenant.", code="not_found")
    return membership


def _keep_an_owner(tenant: Tenant, *, field: str) -> None:
    """Refuse to take the owner role from the last member who holds it."""
    if Membership.objects.filter(tenant=tenant, role=Role.OWNER).count() <= 1:
        raise Invalid({field: [LAST_OWNER]})


def _tenant_insert(*, name: str, slug: str) -> Tenant | None:
    """Insert a tenant; ``None`` when the slug is taken (checked by the unique index)."""
    try:
        with transaction.atomic():
            return Tenant.objects.create(name=name, slug=slug)
    except IntegrityError:
        return None


def _free_slug(text: str) -> str:
    base = slugify(text)[:60] or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug
