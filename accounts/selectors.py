"""Reads for accounts: what a credential amounts to, and the tenants a user sees."""

from uuid import UUID

from core.principal import AuthMethod, Principal
from core.renderers import RenderedOnce
from tenants.models import Membership
from tenants.selectors import user_sole_tenant


def user_sole_tenant_id(*, user) -> UUID | None:
    """The id of the user's tenant when they belong to exactly one; a warm request asks no query."""
    tenant = user_sole_tenant(user=user)
    return tenant.pk if tenant is not None else None


def user_memberships(*, user):
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def credential_describe(*, principal: Principal, request) -> dict:
    """The body of ``GET /auth/verify``: what the presented credential is and may reach.

    A function of the principal alone, but for a session's sliding expiry, so it is built once
    per principal and shared: a cached key's principal answers every request with one body,
    rendered once (``core.renderers``). The caller must not change it.
    """
    if principal.auth_method == AuthMethod.SESSION and principal.expires_at is None:
        return _described(principal, request.session.get_expiry_date())
    body = principal.derived.get("verify_body")
    if body is None:
        body = principal.derived["verify_body"] = _described(principal, principal.expires_at)
    return body


def _described(principal: Principal, expires_at) -> RenderedOnce:
    user = principal.user
    tenant_id = principal.tenant_id or (
        user_sole_tenant_id(user=user) if user is not None else None
    )
    body = RenderedOnce(
        valid=True,
        auth_method=principal.auth_method,
        user={"id": user.pk, "email": user.email} if user is not None else None,
        # As the encoder would write it, without its type-by-type fallback for one field.
        tenant_id=str(tenant_id) if tenant_id is not None else None,
        scopes=list(principal.scopes),
        expires_at=expires_at,
    )
    if key_prefix := principal.key_prefix:
        body["key_prefix"] = key_prefix
    if principal.service_client is not None:  # a client has no user: say which client it is
        body["client_id"] = str(principal.service_client.client_id)
    return body
