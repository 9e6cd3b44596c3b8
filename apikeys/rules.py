"""The rules every API key obeys, and the rule that no key acts on a wider one (SPEC §3, §9).

``services`` calls these before any write, whichever door the change came through (API, admin,
pages, commands). They raise the domain's ``Invalid`` (a field is wrong) or ``NotAllowed`` (the
caller may not do this; ``core.domain_errors``), so every door answers with the same words.
The escalation rule itself is ``identity.reach.escalation_refusal``; here a principal and a key
become reaches.
"""

import json

from apikeys.models import ApiKey, KeyType
from core.domain_errors import Invalid, NotAllowed
from core.principal import AuthMethod, Principal
from identity import limits
from identity.reach import (  # noqa: F401  (grants_within and friends: rules' public names)
    ADMIN_SCOPE,
    TYPE_RANK,
    Reach,
    escalation_refusal,
    grants_within,
    networks_within,
    scope_covered,
)

# SPEC §9: sizes are bounded. The serializers and forms check these before any per-item work.
MAX_NAME_LENGTH = 100
MAX_DESCRIPTION = 1000
MAX_SCOPES = 32
MAX_ENDPOINTS = 100
MAX_GRANT_METHODS = 8
MAX_ALLOWED_IPS = 100
MAX_METADATA_BYTES = 4096


def parse_scopes(value) -> list[str]:
    """Scopes as a list or a space/comma separated string → a sorted list without repeats."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return sorted({str(scope).strip() for scope in value if str(scope).strip()})


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
    if api_key.is_canary:
        # Refused rather than ignored: a caller who asks for scopes on a canary has misread
        # what it is, and should hear so (docs/apikeys.md "Canary keys").
        for field, value in (
            ("scopes", api_key.scopes),
            ("endpoints", api_key.endpoints),
            ("key_manager", api_key.key_manager),
        ):
            if value:
                errors[field] = [
                    "A canary key never authorises anything: it takes no " + field + "."
                ]
    if touched("expires_at") and api_key.is_expired():
        errors["expires_at"] = ["Must be in the future."]
    if (
        touched("rate_limit")
        and limits.raises_above_default(api_key.key_type, api_key.rate_limit)
        and not actor_is_staff
    ):
        errors["rate_limit"] = ["Only staff may raise a key's rate limit above its type's default."]
    if errors:
        raise Invalid(errors)


def check_tenant_membership(api_key: ApiKey) -> None:
    from tenants.resolution import tenant_not_found
    from tenants.selectors import membership_get

    if api_key.tenant_id is None:
        return
    if membership_get(user=api_key.user, tenant_id=api_key.tenant_id) is None:
        raise tenant_not_found()


def reach_of_key(api_key: ApiKey) -> Reach:
    """Everything ``api_key`` may do, as the escalation rule compares it."""
    return Reach(
        scopes=frozenset(api_key.scopes or ()),
        endpoints=tuple(api_key.endpoints or ()),
        key_type=api_key.key_type,
        tenant_id=api_key.tenant_id,
        allowed_ips=tuple(api_key.allowed_ips or ()),
        expires_at=api_key.expires_at,
        rate_limit=limits.effective_rate_limit(api_key),
        key_manager=api_key.key_manager,
        owner_is_staff=bool(api_key.user.is_staff),
        credits=credits_of(api_key),
    )


def reach_of_principal(principal: Principal) -> Reach:
    """The reach of the key a request authenticated with (its principal, as authorized)."""
    return Reach(
        scopes=frozenset(principal.scopes),
        endpoints=tuple(principal.endpoints),
        key_type=principal.key_type,
        tenant_id=principal.tenant_id,
        allowed_ips=tuple(principal.allowed_ips),
        expires_at=principal.expires_at,
        rate_limit=limits.effective_rate_limit(principal.api_key),
        key_manager=principal.key_manager,
        owner_is_staff=principal.is_staff,
        credits=credits_of(principal.api_key),
    )


def credits_of(api_key) -> tuple | None:
    """A key's credits as the escalation rule compares them (``None``: unlimited)."""
    if api_key is None or api_key.credits_remaining is None:
        return None
    return (
        api_key.credits_remaining,
        api_key.credits_refill_amount,
        api_key.credits_refill_interval or "",
    )


def check_escalation(actor: Principal | None, *targets: ApiKey) -> None:
    """Refuse (403 ``insufficient_permissions``) a key acting on a key wider than itself.

    ``targets`` are the key as it is before the action and as it would be after it (a new key
    has only an after, a deleted one only a before). People act with their own rights: the
    rule is about keys acting on keys (SPEC §9), so any other principal passes.
    """
    if actor is None or actor.auth_method != AuthMethod.API_KEY:
        return
    actor_reach = reach_of_principal(actor)
    for target in targets:
        refusal = escalation_refusal(actor_reach, reach_of_key(target))
        if refusal is not None:
            raise NotAllowed(f"Wider than the calling key on {refusal.field}: {refusal.message}")


def check_sizes(api_key: ApiKey, *, changed: set | None = None) -> None:
    """SPEC §9's bounds, for every door (the serializers check them first, before parsing)."""
    errors = {}
    if _touched("name", changed) and len(api_key.name or "") > MAX_NAME_LENGTH:
        errors["name"] = [f"At most {MAX_NAME_LENGTH} characters."]
    if _touched("description", changed) and len(api_key.description or "") > MAX_DESCRIPTION:
        errors["description"] = [f"At most {MAX_DESCRIPTION} characters."]
    if _touched("scopes", changed) and len(api_key.scopes or ()) > MAX_SCOPES:
        errors["scopes"] = [f"At most {MAX_SCOPES} scopes."]
    if _touched("endpoints", changed):
        endpoints = api_key.endpoints or ()
        if len(endpoints) > MAX_ENDPOINTS:
            errors["endpoints"] = [f"At most {MAX_ENDPOINTS} endpoint grants."]
        elif any(len(grant.get("methods") or ()) > MAX_GRANT_METHODS for grant in endpoints):
            errors["endpoints"] = [f"At most {MAX_GRANT_METHODS} methods per grant."]
    if _touched("allowed_ips", changed) and len(api_key.allowed_ips or ()) > MAX_ALLOWED_IPS:
        errors["allowed_ips"] = [f"At most {MAX_ALLOWED_IPS} IPs or CIDRs."]
    if _touched("metadata", changed) and len(json.dumps(api_key.metadata)) > MAX_METADATA_BYTES:
        errors["metadata"] = [f"At most {MAX_METADATA_BYTES} bytes of JSON."]
    if errors:
        raise Invalid(errors)


def _touched(field: str, changed: set | None) -> bool:
    return changed is None or field in changed
