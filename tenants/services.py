"""Writes on tenants and memberships, and the role rules that guard them.

Every change writes the audit log. ``actor_role`` is the caller's role in the tenant
(``tenants.resolution.TenantAccess.role``); ``None`` means the caller is not a member (staff
looking on), and no write is open to them. Changes to a tenant's members run with the tenant's
row locked, so two concurrent changes can never leave it without an owner.
"""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from rest_framework import exceptions
from rest_framework.exceptions import ValidationError

from audit.services import audit_record
from tenants.models import Membership, Tenant
from tenants.selectors import member_get, member_stranded_without

Role = Membership.Role
MANAGERS = frozenset({Role.OWNER, Role.ADMIN})

SLUG_TAKEN = "This slug is already taken."
LAST_OWNER = "A tenant must keep at least one owner: make another member an owner first."
ONLY_TENANT = "{email} belongs to no other tenant, and every user keeps at least one."


@transaction.atomic
def tenant_create(*, name: str, owner, slug: str | None = None, request=None, actor=None) -> Tenant:
    """Create a tenant with ``owner`` as its owner.

    An explicit ``slug`` that is taken is a validation error; without one, a free slug is
    derived from the name.
    """
    if slug:
        tenant = _tenant_insert(name=name, slug=slug)
        if tenant is None:
            raise ValidationError({"slug": [SLUG_TAKEN]})
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
            raise ValidationError({"slug": [SLUG_TAKEN]})
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
        raise ValidationError({"slug": [SLUG_TAKEN]}) from exc
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
        raise ValidationError({"non_field_errors": [ONLY_TENANT.format(email=stranded.user.email)]})
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
    """Add an existing user by email: owners and admins; only an owner may add an owner."""
    _require(actor_role in MANAGERS, "Only an owner or admin may add members.")
    _require(role != Role.OWNER or actor_role == Role.OWNER, "Only an owner may add another owner.")
    user_model = get_user_model()
    user = user_model.objects.filter(
        email=user_model.objects.normalize_email(email), is_active=True
    ).first()
    if user is None:
        raise ValidationError({"email": ["No active user has this email address."]})
    tenant = _locked(tenant)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    except IntegrityError as exc:
        raise ValidationError({"email": ["This user is already a member."]}) from exc
    audit_record(
        event_type="member.added",
        request=request,
        target=membership,
        tenant_id=tenant.pk,
        data={"user_id": user.pk, "email": user.email, "role": role},
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
        raise ValidationError(
            {"non_field_errors": [ONLY_TENANT.format(email=membership.user.email)]}
        )
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


def _require(condition: bool, detail: str) -> None:
    if not condition:
        raise exceptions.PermissionDenied(detail, code="insufficient_permissions")


def _locked(tenant: Tenant) -> Tenant:
    """The tenant's row, locked until the transaction ends: membership changes queue here."""
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


def _member(tenant: Tenant, user_id) -> Membership:
    membership = member_get(tenant=tenant, user_id=user_id)
    if membership is None:
        raise exceptions.NotFound("No such member of this tenant.", code="not_found")
    return membership


def _keep_an_owner(tenant: Tenant, *, field: str) -> None:
    """Refuse to take the owner role from the last member who holds it."""
    if Membership.objects.filter(tenant=tenant, role=Role.OWNER).count() <= 1:
        raise ValidationError({field: [LAST_OWNER]})


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
