"""The one authorization decision: may this principal do this method on this path?

``authorize`` is called by every API view (through ``apikeys.permissions``), by
``POST /api/v1/keys/verify`` and ``GET /api/v1/auth/check``, by tenant resolution and by the web
pages, so that the answer and its reason are the same everywhere. It knows principals, paths and
addresses only: no request, no framework; each edge turns a refusal into its own answer.
"""

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from core.principal import AuthMethod, Principal
from identity.paths import InvalidPath, normalise_path

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ADMIN_SCOPE = "admin"
READ_ALL = "read:all"
WRITE_ALL = "write:all"
APP_ACCESS = "app:access"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    code: str  # "valid", or the SPEC §8 code of the refusal
    reason: str  # which scope, grant, type or IP rule decided, in words
    scopes: tuple[str, ...] = ()  # a refusal for want of a scope: any one of these would do

    @classmethod
    def allow(cls, reason: str) -> "Decision":
        return cls(True, "valid", reason)

    @classmethod
    def deny(cls, code: str, reason: str, scopes: tuple[str, ...] = ()) -> "Decision":
        return cls(False, code, reason, scopes)


def authorize(
    principal: Principal,
    *,
    method: str,
    path: str,
    ip: str | None = None,
    resource: str | None = None,
    admin_only: bool = False,
    app_access: bool = False,
    key_management: bool = False,
    required_scope: str | None = None,
) -> Decision:
    """Decide whether ``principal`` may call ``method path`` from ``ip``.

    ``resource`` names the view's scope family (``agents`` → ``agents:read``/``agents:write``);
    ``admin_only`` marks administrative endpoints (tenants of others, metrics, audit, service
    clients); ``app_access`` marks endpoints that accept the ``app:access`` scope;
    ``key_management`` marks the key-management API, which a key may call only as a key manager;
    ``required_scope`` marks an endpoint that needs one named scope (``keys:verify``), which
    the acting ``admin`` scope or a staff owner's full access also satisfy.
    """
    method = method.upper()
    is_key = principal.auth_method == AuthMethod.API_KEY
    # Only a key or a client token is issued with scopes; a person's JWT or session is not, so
    # only they are told which scope would do (RFC 6750's insufficient_scope).
    scoped = is_key or principal.auth_method == AuthMethod.CLIENT_CREDENTIALS

    if (refused := ip_refusal(principal, ip)) is not None:
        return refused

    if key_management and is_key and not principal.key_manager:
        return Decision.deny(
            "not_key_manager", "Only a key with key_manager may call the key-management API."
        )

    if principal.endpoints and not endpoint_granted(principal.endpoints, method, path):
        return Decision.deny(
            "insufficient_permissions",
            f"No endpoint grant of this key matches {method} {path}.",
        )

    scopes = set(principal.scopes)
    admin_acts = ADMIN_SCOPE in scopes and principal.is_staff

    if required_scope and not admin_only:
        if required_scope in scopes:
            return Decision.allow(f"Scope {required_scope} allows this endpoint.")
        if admin_acts:
            return Decision.allow("The admin scope allows this endpoint.")
        if principal.full_access and principal.is_staff:
            return Decision.allow("Staff user with full access.")
        return Decision.deny(
            "insufficient_permissions",
            f"This endpoint needs the {required_scope} scope.",
            (required_scope,) if scoped else (),
        )

    if admin_only:
        if principal.full_access and principal.is_staff:
            return Decision.allow("Staff user with full access.")
        if admin_acts:
            return Decision.allow("The admin scope allows administrative endpoints.")
        if ADMIN_SCOPE in scopes:
            return Decision.deny(
                "insufficient_permissions",
                "The admin scope acts only while the key's owner is staff.",
            )
        return Decision.deny(
            "insufficient_permissions",
            "This administrative endpoint needs the admin scope.",
            (ADMIN_SCOPE,) if scoped else (),
        )

    if principal.full_access:
        return Decision.allow(
            "Full access of its owner." if is_key else f"Authenticated by {principal.auth_method}."
        )
    if admin_acts:
        return Decision.allow("The admin scope allows every endpoint.")
    if not scopes and principal.endpoints:
        # Grants only: the endpoint grant above already matched.
        return Decision.allow(f"Endpoint grant matches {method} {path}.")
    if not scopes:
        return Decision.deny("insufficient_permissions", "This credential holds no scopes.")

    safe = method in SAFE_METHODS
    wide = READ_ALL if safe else WRITE_ALL
    if wide in scopes:
        return Decision.allow(f"Scope {wide} allows {method}.")
    if resource:
        wanted = f"{resource}:{'read' if safe else 'write'}"
        if wanted in scopes:
            return Decision.allow(f"Scope {wanted} allows {method} on {resource}.")
    if app_access and APP_ACCESS in scopes:
        return Decision.allow("Scope app:access allows this application endpoint.")
    needed = [wide] + ([f"{resource}:{'read' if safe else 'write'}"] if resource else [])
    if app_access:
        needed.append(APP_ACCESS)
    return Decision.deny(
        "insufficient_permissions",
        f"{method} {path} needs one of the scopes: {', '.join(needed)}.",
        tuple(needed),
    )


def endpoint_granted(grants, method: str, path: str) -> bool:
    """True when a grant covers ``path`` (itself or below it) for ``method``.

    Both sides are compared in ``normalise_path``'s form (grants are stored in it; rows saved
    before it and callers holding a raw path get it here), so ``/api/v1/orders/../admin`` is not
    below ``/api/v1/orders``, a trailing slash on either side changes nothing, and a refused
    path matches no grant. Paths are case-sensitive, as RFC 3986 has them: a grant for
    ``/api/v1/orders`` does not admit ``/API/v1/orders``.
    """
    try:
        path = normalise_path(path)
    except InvalidPath:
        return False
    method = method.upper()
    for grant in grants:
        grant_path = grant.get("path")
        base = _grant_base(grant_path) if isinstance(grant_path, str) else ""
        if not base:
            continue
        if path != base and not path.startswith(base + "/"):
            continue
        methods = {m.upper() for m in grant.get("methods") or ()}
        if not methods or "*" in methods or method in methods:
            return True
        if method == "HEAD" and "GET" in methods:
            return True
    return False


@lru_cache(maxsize=1024)
def _grant_base(grant_path: str) -> str:
    """A grant's path in normal form without its trailing slash; "" for one that matches nothing."""
    try:
        return normalise_path(grant_path).rstrip("/")
    except InvalidPath:
        return ""


def ip_refusal(principal: Principal, ip: str | None) -> Decision | None:
    """The key's IP allowlist, the first rule of every decision; ``None`` when it passes."""
    if principal.allowed_ips and ip is not None and not ip_allowed(ip, principal.allowed_ips):
        return Decision.deny("ip_not_allowed", f"Client IP {ip} is not in the key's allowed_ips.")
    return None


def ip_allowed(ip: str, cidrs) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(cidrs)))


@lru_cache(maxsize=1024)
def _networks(cidrs: tuple[str, ...]):
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)
