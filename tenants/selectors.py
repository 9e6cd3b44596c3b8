"""Reads of tenants, memberships and invitations."""

import uuid

from django.db.models import CharField, Count, OuterRef, QuerySet, Subquery, Value
from django.utils import timezone

from tenants.models import Membership, Tenant, TenantInvitation


def tenants_for_user(*, user):
    return Tenant.objects.filter(memberships__user=user)


# Remembered on the user object, which the process cache of verified records keeps for warm
# requests; any membership change retires that record (apikeys/signals.py), so what is
# remembered is never stale. Only memberships are remembered: a tenant id a caller merely names
# costs a query each time, so nobody can grow the memo by naming random ids.
_SOLE_TENANT = "_keyward_sole_tenant"
_MEMBER_TENANTS = "_keyward_member_tenants"


def user_sole_tenant(*, user) -> Tenant | None:
    """The user's tenant when they belong to exactly one (SPEC §4: then it is inferred)."""
    if _SOLE_TENANT not in user.__dict__:
        tenants = list(tenants_for_user(user=user)[:2])
        user.__dict__[_SOLE_TENANT] = tenants[0] if len(tenants) == 1 else None
    return user.__dict__[_SOLE_TENANT]


def user_member_tenant(*, user, tenant_id) -> Tenant | None:
    """The tenant ``tenant_id`` if ``user`` is a member of it."""
    remembered = user.__dict__.setdefault(_MEMBER_TENANTS, {})
    if tenant_id not in remembered:
        membership = membership_get(user=user, tenant_id=tenant_id)
        if membership is None:
            return None
        remembered[tenant_id] = membership.tenant
    return remembered[tenant_id]


def membership_get(*, user, tenant_id) -> Membership | None:
    return (
        Membership.objects.filter(user=user, tenant_id=tenant_id).select_related("tenant").first()
    )


def users_share_a_tenant(first, second) -> bool:
    """True when both users are members of at least one common tenant (one query)."""
    return Membership.objects.filter(
        user=second, tenant__in=Membership.objects.filter(user=first).values("tenant")
    ).exists()


def tenant_list_visible(*, user, bound_tenant_id=None, all_tenants: bool = False) -> QuerySet:
    """Tenants a caller sees, each annotated with the caller's ``role`` (``None``: not a member).

    ``bound_tenant_id`` narrows to a tenant-bound credential's own tenant; ``all_tenants`` (for
    staff acting as admins) lists every tenant. Otherwise: the user's memberships.
    """
    if all_tenants:
        tenants = Tenant.objects.all()
    elif user is None:
        # A service client has no memberships: it sees the tenant it is bound to, if any.
        tenants = (
            Tenant.objects.filter(pk=bound_tenant_id) if bound_tenant_id else Tenant.objects.none()
        )
    else:
        tenants = Tenant.objects.filter(memberships__user=user)
    if bound_tenant_id is not None:
        tenants = tenants.filter(pk=bound_tenant_id)
    if user is None:
        role = Value(None, output_field=CharField())
    else:
        role = Subquery(
            Membership.objects.filter(tenant=OuterRef("pk"), user=user).values("role")[:1]
        )
    return tenants.annotate(role=role)


def member_stranded_without(*, tenant) -> Membership | None:
    """A member for whom ``tenant`` is the only tenant (deleting it would leave them none)."""
    return (
        Membership.objects.filter(tenant=tenant)
        .annotate(tenant_count=Count("user__memberships"))
        .filter(tenant_count=1)
        .select_related("user")
        .first()
    )


def member_list(*, tenant) -> QuerySet:
    return (
        Membership.objects.filter(tenant=tenant).select_related("user").order_by("created_at", "id")
    )


def member_get(*, tenant, user_id) -> Membership | None:
    """The membership of user ``user_id`` (from a URL: anything) in ``tenant``, if any."""
    user_id = _as_id(user_id)
    if user_id is None:
        return None
    return Membership.objects.filter(tenant=tenant, user_id=user_id).select_related("user").first()


def _as_id(value) -> int | None:
    """A database id, or ``None`` for text no id could be (the database would raise on it)."""
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def invitation_list_live(*, tenant) -> QuerySet:
    """A tenant's invitations still open: pending and not yet expired, newest first."""
    return _live(TenantInvitation.objects.filter(tenant=tenant)).select_related("invited_by")


def invitation_get_live(*, tenant, invitation_id) -> TenantInvitation | None:
    """The tenant's open invitation ``invitation_id`` (from a URL: anything), if any."""
    invitation_id = _as_uuid(invitation_id)
    if invitation_id is None:
        return None
    return invitation_list_live(tenant=tenant).filter(pk=invitation_id).first()


def invitation_list_for_user(*, user) -> QuerySet:
    """Open invitations addressed to ``user``'s email, which they alone may answer."""
    return (
        _live(TenantInvitation.objects.filter(email__iexact=user.email))
        .select_related("tenant", "invited_by")
        .order_by("created_at", "id")
    )


def invitation_get_for_user(*, user, invitation_id) -> TenantInvitation | None:
    """``user``'s open invitation ``invitation_id``; anyone else's reads as none (404)."""
    invitation_id = _as_uuid(invitation_id)
    if invitation_id is None:
        return None
    return invitation_list_for_user(user=user).filter(pk=invitation_id).first()


def _live(invitations: QuerySet) -> QuerySet:
    return invitations.filter(status=TenantInvitation.Status.PENDING, expires_at__gt=timezone.now())


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
