"""Which tenant a request acts in: the one answer every tenant-scoped view asks for (SPEC §4).

``tenant_for_request`` serves endpoints whose data belongs to "the current tenant" (agents):
the credential's own tenant, else the ``X-Tenant-Id`` header, else — for a browser session — the
tenant picked on the web pages (SPEC §13), else the caller's only tenant.
``tenant_access`` serves the tenants API, whose path names the tenant. Both keep the same
promises: a tenant-bound credential never reaches another tenant, membership is checked for
every tenant a user names, and a tenant the caller may not see answers exactly as one that does
not exist (404 ``tenant_not_found``).
"""

import uuid
from dataclasses import dataclass

from django.conf import settings
from rest_framework import exceptions

from core.client_ip import client_ip
from core.domain_errors import DomainError, NotAllowed, NotFound
from core.principal import AuthMethod, Principal, principal_of
from identity.authorize import authorize
from tenants.models import Tenant
from tenants.selectors import membership_get, user_member_tenant, user_sole_tenant

TENANT_ID_REQUIRED = (
    "A Tenant Id is required to complete this request. Assign a tenant to your API key, "
    "or add the X-Tenant-Id header."
)
TENANT_HEADER_EMPTY = (
    "The X-Tenant-Id header is empty: name a tenant id in it, or leave the header out."
)
# One message for a tenant that does not exist and one the caller is not in: the API must not
# tell outsiders which tenant ids exist, but it must not mislead a member of another tenant.
TENANT_NOT_FOUND = "Tenant not found, or you are not a member of it."
TENANT_MISMATCH = "This credential is bound to another tenant than the one the request names."

_CACHE_ATTRIBUTE = "_keyward_tenant"
# The web pages' tenant picker: ``{"id", "name"}`` in the session (tenants.views).
CURRENT_TENANT_SESSION_KEY = "current_tenant"


@dataclass(frozen=True, slots=True)
class TenantAccess:
    """A tenant the caller may see, and their role in it (``None``: staff looking on)."""

    tenant: Tenant
    role: str | None


def tenant_for_request(request) -> Tenant:
    """Return the tenant ``request`` acts in, or raise 400/403/404 with the SPEC §4 code.

    The result is cached on the request, so a view may ask as often as it likes.
    """
    cached = getattr(request, _CACHE_ATTRIBUTE, None)
    if cached is not None:
        return cached
    if _tenant_header_blank(request):
        # Sent but empty is malformed (SPEC §8), not absent: inferring the caller's tenant
        # would act where the client meant to name one (issue 25).
        raise DomainError(TENANT_HEADER_EMPTY, code="tenant_id_required")
    principal = _principal(request)
    named = tenant_header_value(request)
    tenant = None
    if named is None and principal.auth_method == AuthMethod.SESSION:
        tenant = _picked_tenant(request, principal)
    if tenant is None:
        tenant = tenant_for_principal(principal, named=named)
    setattr(request, _CACHE_ATTRIBUTE, tenant)
    return tenant


def _picked_tenant(request, principal: Principal) -> Tenant | None:
    """The tenant picked on the pages, while the session's user still belongs to it.

    Costs the one membership query the caller's-only-tenant rule would have asked instead;
    a tenant left since it was picked is ignored, and the usual rules answer.
    """
    picked = request.session.get(CURRENT_TENANT_SESSION_KEY) or {}
    tenant_id = _parse_uuid(picked.get("id")) if isinstance(picked, dict) else None
    if tenant_id is None or principal.user is None:
        return None
    return user_member_tenant(user=principal.user, tenant_id=tenant_id)


def tenant_for_principal(principal: Principal, *, named: str | None) -> Tenant:
    """The rules of ``tenant_for_request`` for a credential and the tenant id it names.

    Also what ``keys/verify`` applies when it judges a key for a tenant-scoped Keyward route.
    """
    bound_id = _parse_uuid(principal.tenant_id)
    if bound_id is not None:
        if named is not None and _parse_uuid(named) != bound_id:
            raise NotAllowed(TENANT_MISMATCH, code="tenant_mismatch")
        return _tenant_of_member(principal, bound_id)
    if named is not None:
        tenant_id = _parse_uuid(named)
        if tenant_id is None:
            raise tenant_not_found()
        return _tenant_of_member(principal, tenant_id)
    return _sole_tenant(principal)


def tenant_access(request, tenant_id) -> TenantAccess:
    """The tenant a path names, if the caller may see it; else 404 ``tenant_not_found``.

    A tenant-bound credential sees its own tenant only. A user sees the tenants they belong to.
    Staff acting with the ``admin`` scope (or a staff session/JWT) may also see any other, with
    no role in it, so that every write the services guard by role stays closed to them.
    """
    principal = _principal(request)
    bound_id = _parse_uuid(principal.tenant_id)
    tenant_id = _parse_uuid(tenant_id)
    if tenant_id is None or (bound_id is not None and bound_id != tenant_id):
        raise tenant_not_found()
    if principal.user is not None:
        membership = membership_get(user=principal.user, tenant_id=tenant_id)
        if membership is not None:
            return TenantAccess(tenant=membership.tenant, role=membership.role)
    bound = bound_id is not None
    if (bound and principal.user is None) or (not bound and acts_as_admin(request)):
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is not None:
            return TenantAccess(tenant=tenant, role=None)
    raise tenant_not_found()


def acts_as_admin(request) -> bool:
    """True when the one authorization decision would open an administrative endpoint."""
    principal = principal_of(request)
    if principal is None:
        return False
    return authorize(
        principal,
        method=request.method,
        path=request.path,
        ip=client_ip(request),
        admin_only=True,
    ).allowed


def tenant_header_value(request) -> str | None:
    """The tenant id the request names in ``KEYWARD_TENANT_HEADER``; blank counts as none."""
    header = settings.KEYWARD_TENANT_HEADER
    value = request.META.get("HTTP_" + header.upper().replace("-", "_"))
    if value is None or not value.strip():
        return None
    return value.strip()


def _tenant_header_blank(request) -> bool:
    header = settings.KEYWARD_TENANT_HEADER
    value = request.META.get("HTTP_" + header.upper().replace("-", "_"))
    return value is not None and not value.strip()


def tenant_not_found() -> NotFound:
    return NotFound(TENANT_NOT_FOUND, code="tenant_not_found")


def _principal(request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        raise exceptions.NotAuthenticated(code="authentication_required")
    return principal


def _tenant_of_member(principal: Principal, tenant_id: uuid.UUID) -> Tenant:
    """The tenant, if the principal's user belongs to it (one indexed query)."""
    if principal.user is None:
        # A service client acts for its bound tenant alone; it has no memberships.
        tenant = None
        if _parse_uuid(principal.tenant_id) == tenant_id:
            tenant = Tenant.objects.filter(pk=tenant_id).first()
    else:
        # Even a bound key loses its tenant when its owner leaves it.
        tenant = user_member_tenant(user=principal.user, tenant_id=tenant_id)
    if tenant is None:
        raise tenant_not_found()
    return tenant


def _sole_tenant(principal: Principal) -> Tenant:
    tenant = user_sole_tenant(user=principal.user) if principal.user is not None else None
    if tenant is None:
        raise DomainError(TENANT_ID_REQUIRED, code="tenant_id_required")
    return tenant


def _parse_uuid(value) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None
