"""The rules every API key obeys, and the rule that no key mints a wider one (SPEC §3).

``services`` calls these before any write, whichever door the change came through (API, admin,
pages, commands). They raise DRF's ``ValidationError`` (a field is wrong) or ``PermissionDenied``
(the caller may not do this), so every door answers with the same words.
"""

import ipaddress

from rest_framework import exceptions
from rest_framework.exceptions import ValidationError

from apikeys import limits
from apikeys.models import ApiKey, KeyType
from apikeys.permissions import ADMIN_SCOPE, APP_ACCESS, READ_ALL, WRITE_ALL, endpoint_granted
from core.principal import Principal

TYPE_RANK = {KeyType.RESTRICTED: 0, KeyType.DEVELOPMENT: 1, KeyType.PRODUCTION: 2, KeyType.ADMIN: 3}


def parse_scopes(value) -> list[str]:
    """Scopes as a list or a space/comma separated string → a sorted list without repeats."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return sorted({str(scope).strip() for scope in value if str(scope).strip()})


def scope_covered(scope: str, scopes) -> bool:
    """True when holding ``scopes`` already allows what ``scope`` allows."""
    scopes = set(scopes)
    if scope in scopes or ADMIN_SCOPE in scopes:
        return True
    if scope in (ADMIN_SCOPE, APP_ACCESS):
        return False
    if scope.endswith(":read") and READ_ALL in scopes:
        return True
    return scope.endswith(":write") and WRITE_ALL in scopes


def check_key(api_key: ApiKey, *, actor, changed: set | None = None) -> None:
    """The rules every key obeys, whoever creates or changes it.

    ``changed`` names the fields an update sets (``None``: a new key, every rule applies), so
    that renaming a key is never refused over a field nobody touched — an expiry that has
    passed, or a limit staff once raised.
    """

    def touched(field: str) -> bool:
        return changed is None or field in changed

    errors = {}
    actor_is_staff = bool(getattr(actor, "is_staff", False))
    if (
        changed is None
        and api_key.key_type == KeyType.ADMIN
        and not (actor_is_staff and api_key.user.is_staff)
    ):
        errors["key_type"] = ["Only staff users create admin keys, for staff owners."]
    if ADMIN_SCOPE in api_key.scopes and api_key.key_type != KeyType.ADMIN:
        errors["scopes"] = ["Only an admin key may hold the admin scope."]
    if api_key.key_type == KeyType.RESTRICTED and api_key.full_access:
        errors["scopes"] = ["A restricted key needs explicit scopes or endpoint grants."]
    if touched("expires_at") and api_key.is_expired():
        errors["expires_at"] = ["Must be in the future."]
    if (
        touched("rate_limit")
        and limits.raises_above_default(api_key.key_type, api_key.rate_limit)
        and not actor_is_staff
    ):
        errors["rate_limit"] = ["Only staff may raise a key's rate limit above its type's default."]
    if errors:
        raise ValidationError(errors)


def check_tenant_membership(api_key: ApiKey) -> None:
    from tenants.resolution import tenant_not_found
    from tenants.selectors import membership_get

    if api_key.tenant_id is None:
        return
    if membership_get(user=api_key.user, tenant_id=api_key.tenant_id) is None:
        raise tenant_not_found()


def check_within(api_key: ApiKey, creator: Principal) -> None:
    """A key manager never issues or shapes a key wider than itself."""
    errors = {}
    if not creator.full_access:
        if api_key.full_access:
            errors["scopes"] = ["A key without full access cannot grant full access."]
        if creator.scopes:
            wider = [s for s in api_key.scopes if not scope_covered(s, creator.scopes)]
            if wider or (not api_key.scopes and api_key.endpoints and not creator.endpoints):
                errors["scopes"] = [f"Wider than the calling key's scopes: {', '.join(wider)}."]
        if creator.endpoints and not (
            api_key.endpoints and grants_within(api_key.endpoints, creator.endpoints)
        ):
            errors["endpoints"] = ["Endpoint grants must stay within the calling key's grants."]
    if creator.tenant_id is not None and api_key.tenant_id != creator.tenant_id:
        errors["tenant_id"] = ["A tenant-bound key issues keys for its own tenant only."]
    if TYPE_RANK.get(api_key.key_type, 0) > TYPE_RANK.get(creator.key_type, 0):
        errors["key_type"] = [f"Wider than the calling key's type ({creator.key_type})."]
    if creator.expires_at is not None and (
        api_key.expires_at is None or api_key.expires_at > creator.expires_at
    ):
        errors["expires_at"] = ["Cannot outlive the calling key."]
    if creator.allowed_ips and not networks_within(api_key.allowed_ips, creator.allowed_ips):
        errors["allowed_ips"] = ["Must stay within the calling key's allowed_ips."]
    if api_key.key_manager and not creator.key_manager:
        errors["key_manager"] = ["Only a key manager issues key managers."]
    creator_limits = limits.effective_rate_limit(creator.api_key)
    if not limits.within(limits.effective_rate_limit(api_key), creator_limits):
        errors["rate_limit"] = ["Cannot exceed the calling key's rate limits."]
    if errors:
        raise exceptions.PermissionDenied(
            "This would create a key wider than the calling key: "
            + " ".join(message for messages in errors.values() for message in messages),
            code="insufficient_permissions",
        )


def grants_within(grants, bounds) -> bool:
    """True when every method of every grant in ``grants`` is covered by one in ``bounds``."""
    for grant in grants:
        methods = [m.upper() for m in grant.get("methods") or ["*"]]
        if "*" in methods:
            methods = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
        if not all(endpoint_granted(bounds, m, grant["path"].rstrip("/") or "/") for m in methods):
            return False
    return True


def networks_within(cidrs, bounds) -> bool:
    if not cidrs:
        return False
    bound_networks = [ipaddress.ip_network(b, strict=False) for b in bounds]
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr, strict=False)
        if not any(network.version == b.version and network.subnet_of(b) for b in bound_networks):
            return False
    return True
