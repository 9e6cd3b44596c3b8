"""Reads of service clients. A client id from a URL or a token may be any text."""

import uuid

from django.db.models import Exists, OuterRef, QuerySet

from oauth.models import RevokedClientToken, ServiceClient


def service_client_list(*, tenant_id=None, is_active: bool | None = None) -> QuerySet:
    """Clients newest first; ``tenant_id`` narrows to one tenant (a tenant-bound caller)."""
    clients = ServiceClient.objects.select_related("tenant", "created_by")
    if tenant_id is not None:
        clients = clients.filter(tenant_id=tenant_id)
    if is_active is not None:
        clients = clients.filter(is_active=is_active)
    return clients


def service_client_get(*, client_id, tenant_id=None) -> ServiceClient | None:
    """The client ``client_id`` (``None`` for an unknown or malformed id)."""
    parsed = parse_client_id(client_id)
    if parsed is None:
        return None
    return service_client_list(tenant_id=tenant_id).filter(client_id=parsed).first()


def service_client_get_for_authentication(*, client_id, jti=None) -> ServiceClient | None:
    """The active client ``client_id``: one primary-key probe, on every request it makes.

    With ``jti``, the client comes back with ``token_revoked``: whether that token of its was
    revoked (RFC 7009), answered by the same query.
    """
    parsed = parse_client_id(client_id)
    if parsed is None:
        return None
    clients = ServiceClient.objects.filter(client_id=parsed, is_active=True)
    if jti is not None:
        revoked = RevokedClientToken.objects.filter(client_id=OuterRef("pk"), jti=str(jti)[:64])
        clients = clients.annotate(token_revoked=Exists(revoked))
    return clients.first()


def parse_client_id(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
