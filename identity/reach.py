"""A key's reach, and the one rule that no key acts on a key wider than itself (SPEC §9).

A key's *reach* is everything it may do: scopes, endpoint grants, key type, tenant, IP
allowlist, expiry, rate limit and the key-manager flag (full access is derived: no scopes and
no grants). ``escalation_refusal`` compares two reaches field by field; ``apikeys.rules`` builds
them from a principal and from a key, and ``apikeys.services`` asks before every lifecycle
action, whichever door it came through.

Plain Python on purpose: no Django, no DRF, so the rule is read and tested on its own. Every
containment check here is linear in the size of the target (or bounded by the actor's, which
the size limits of SPEC §9 keep small): a body of grants cannot buy quadratic work.
"""

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

ADMIN_SCOPE = "admin"
READ_ALL = "read:all"
WRITE_ALL = "write:all"
APP_ACCESS = "app:access"
KEYS_VERIFY = "keys:verify"

# Scopes an endpoint asks for by name that full access satisfies only for a staff owner
# (``identity.authorize.authorize``: ``required_scope`` and ``admin_only`` endpoints).
STAFF_ONLY_SCOPES = frozenset({ADMIN_SCOPE, KEYS_VERIFY})
# What a key with grants and no scopes may do inside its grants: any resource, read or write,
# but no endpoint that asks for a scope by name.
GRANTS_ONLY_SCOPES = (READ_ALL, WRITE_ALL)

CANARY_TYPE = "canary"  # a honeytoken: it reaches nothing, so any key manager may make one
TYPE_RANK = {CANARY_TYPE: -1, "restricted": 0, "development": 1, "production": 2, "admin": 3}
RATE_WINDOWS = ("per_minute", "per_hour")
ALL_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")


class Refusal(NamedTuple):
    """Why an action is refused: the field whose reach would be wider, and a sentence."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class Reach:
    """Everything a key may do. ``rate_limit`` is effective: ``{window: n or None (no limit)}``."""

    scopes: frozenset[str] = frozenset()
    endpoints: tuple[Mapping[str, Any], ...] = ()
    key_type: str = "development"
    tenant_id: Any = None  # None: any tenant of its owner
    allowed_ips: tuple[str, ...] = ()  # empty: any IP
    expires_at: datetime | None = None  # None: never
    rate_limit: Mapping[str, int | None] = field(default_factory=dict)
    key_manager: bool = False
    # The owner's staff status decides whether ``admin`` acts and whether full access reaches
    # the staff-only scopes (SPEC §3: "the admin scope acts only while its owner is staff").
    owner_is_staff: bool = False
    # Credits (SPEC §12): ``None`` is unlimited, else ``(remaining, refill amount or None,
    # refill interval or "")`` as set on the key (its configuration, not the live balance).
    credits: tuple | None = None

    @property
    def full_access(self) -> bool:
        """No scopes and no grants: the key acts with its owner's full rights (a canary: none)."""
        return self.key_type != CANARY_TYPE and not self.scopes and not self.endpoints

    @property
    def grants_only(self) -> bool:
        return not self.scopes and bool(self.endpoints)


def escalation_refusal(actor: Reach, target: Reach) -> Refusal | None:
    """``None`` when ``target`` lies within ``actor`` on every field; else the first wider one.

    Called for the target as it is before an action and as it would be after it, so that a
    key neither shapes a key wider than itself nor acts on one that already is.
    """
    for check in _CHECKS:
        refusal = check(actor, target)
        if refusal is not None:
            return refusal
    return None


def _scopes(actor: Reach, target: Reach) -> Refusal | None:
    if target.key_type == CANARY_TYPE:
        return None  # it authorises nothing, whatever it holds
    if target.full_access:
        if actor.full_access or _admin_acts(actor):
            return None
        return Refusal("scopes", "a key without full access cannot give full access.")
    if actor.grants_only:
        if target.scopes:
            return Refusal(
                "scopes",
                "a key with endpoint grants and no scopes holds none of the scopes an endpoint "
                f"asks for by name, so it cannot give {', '.join(sorted(target.scopes))}.",
            )
        return None
    wanted = sorted(target.scopes) if target.scopes else GRANTS_ONLY_SCOPES
    missing = [scope for scope in wanted if not scope_held(scope, actor)]
    if not missing:
        return None
    if not target.scopes:
        return Refusal(
            "scopes",
            "a key with endpoint grants and no scopes may read and write anything its grants "
            f"match; the calling key lacks {', '.join(missing)}.",
        )
    return Refusal("scopes", f"wider than the calling key's scopes: {', '.join(missing)}.")


def _endpoints(actor: Reach, target: Reach) -> Refusal | None:
    if not actor.endpoints:
        return None
    if not target.endpoints or not grants_within(target.endpoints, actor.endpoints):
        return Refusal("endpoints", "endpoint grants must lie within the calling key's grants.")
    return None


def _key_type(actor: Reach, target: Reach) -> Refusal | None:
    if target.key_type == actor.key_type:
        return None
    if TYPE_RANK.get(target.key_type, len(TYPE_RANK)) > TYPE_RANK.get(actor.key_type, -1):
        return Refusal("key_type", f"wider than the calling key's type ({actor.key_type}).")
    return None


def _tenant(actor: Reach, target: Reach) -> Refusal | None:
    if actor.tenant_id is not None and target.tenant_id != actor.tenant_id:
        return Refusal("tenant_id", "a tenant-bound key acts on keys of its own tenant only.")
    return None


def _allowed_ips(actor: Reach, target: Reach) -> Refusal | None:
    if actor.allowed_ips and not networks_within(target.allowed_ips, actor.allowed_ips):
        return Refusal("allowed_ips", "must lie within the calling key's allowed_ips.")
    return None


def _expires_at(actor: Reach, target: Reach) -> Refusal | None:
    if actor.expires_at is not None and (
        target.expires_at is None or target.expires_at > actor.expires_at
    ):
        return Refusal("expires_at", "cannot outlive the calling key.")
    return None


def _rate_limit(actor: Reach, target: Reach) -> Refusal | None:
    if not rate_limit_within(target.rate_limit, actor.rate_limit):
        return Refusal("rate_limit", "cannot exceed the calling key's rate limits.")
    return None


# Refills compared per 31 days, so that a daily refill of 10 is no more than a monthly of 310.
_REFILLS_PER_MONTH = {"daily": 31, "monthly": 1}


def _credits(actor: Reach, target: Reach) -> Refusal | None:
    """A key with credits gives only credits: no more than it holds or refills to, and a
    refill no faster than its own (none, if it has none)."""
    if actor.credits is None:
        return None
    if target.credits is None:
        return Refusal("credits", "a key with credits cannot give unlimited credits.")
    remaining, amount, interval = actor.credits
    t_remaining, t_amount, t_interval = target.credits
    if t_remaining > max(remaining, amount or 0):
        return Refusal("credits", "cannot exceed the calling key's credits.")
    if t_interval and not interval:
        return Refusal("credits", "a key without refill cannot give a refill.")
    if (
        t_interval
        and (t_amount or 0) * _REFILLS_PER_MONTH[t_interval]
        > (amount or 0) * _REFILLS_PER_MONTH[interval]
    ):
        return Refusal("credits", "cannot refill faster than the calling key.")
    return None


def _key_manager(actor: Reach, target: Reach) -> Refusal | None:
    if target.key_manager and not actor.key_manager:
        return Refusal("key_manager", "only a key manager acts on key managers.")
    return None


_CHECKS = (
    _scopes,
    _endpoints,
    _key_type,
    _tenant,
    _allowed_ips,
    _expires_at,
    _rate_limit,
    _key_manager,
    _credits,
)


# --- the containment helpers ---------------------------------------------------------------


def _admin_acts(reach: Reach) -> bool:
    return ADMIN_SCOPE in reach.scopes and reach.owner_is_staff


def scope_held(scope: str, reach: Reach) -> bool:
    """True when a key of ``reach`` may already do what ``scope`` allows."""
    if reach.full_access:
        return scope not in STAFF_ONLY_SCOPES or reach.owner_is_staff
    if reach.grants_only:
        return False
    return scope_covered(scope, reach.scopes, admin_acts=reach.owner_is_staff)


def scope_covered(scope: str, scopes: Iterable[str], *, admin_acts: bool = True) -> bool:
    """True when holding ``scopes`` already allows what ``scope`` allows.

    ``read:all`` covers every ``<resource>:read``, ``write:all`` every ``<resource>:write``;
    ``admin`` covers everything while it acts; ``admin``, ``app:access`` and ``keys:verify``
    are otherwise covered only by themselves.
    """
    scopes = scopes if isinstance(scopes, set | frozenset) else set(scopes)
    if scope in scopes or (admin_acts and ADMIN_SCOPE in scopes):
        return True
    if scope.endswith(":read"):
        return READ_ALL in scopes
    if scope.endswith(":write"):
        return WRITE_ALL in scopes
    return False


def grants_within(grants: Iterable[Mapping[str, Any]], bounds: Iterable[Mapping[str, Any]]) -> bool:
    """True when every method of every grant in ``grants`` is allowed by ``bounds``.

    A grant matches its path and everything below it, as ``apikeys.permissions
    .endpoint_granted`` judges a request; so a grant lies within the bounds when, for each of
    its methods, a bound on its path or on one of its ancestors allows that method. The bounds
    are indexed by path once, and each grant looks up only its own ancestors: linear in the
    grants, never grants times bounds.
    """
    index = _grant_index(bounds)
    for grant in grants:
        path = str(grant.get("path", "")).rstrip("/") or "/"
        needed = set(_methods(grant.get("methods")))
        for base in _ancestors(path):
            allowed = index.get(base)
            if allowed is None:
                continue
            needed -= allowed
            if not needed:
                break
        if needed:
            return False
    return True


def _grant_index(bounds) -> dict[str, frozenset[str]]:
    """``{base path: methods allowed on it and below it}``; a bare ``/`` matches nothing."""
    index: dict[str, set[str]] = {}
    for bound in bounds:
        base = str(bound.get("path", "")).rstrip("/")
        if not base:
            continue
        methods = set(_methods(bound.get("methods")))
        if "GET" in methods:
            methods.add("HEAD")  # a GET grant also allows HEAD
        index.setdefault(base, set()).update(methods)
    return {base: frozenset(methods) for base, methods in index.items()}


def _methods(methods) -> tuple[str, ...]:
    upper = {str(method).upper() for method in methods or ()}
    if not upper or "*" in upper:
        return ALL_METHODS
    return tuple(upper)


def _ancestors(path: str):
    """``/a/b/c`` → ``/a/b/c``, ``/a/b``, ``/a``: every base whose grant would match ``path``."""
    yield path
    end = path.rfind("/")
    while end > 0:
        yield path[:end]
        end = path.rfind("/", 0, end)


def networks_within(cidrs: Iterable[str], bounds: Iterable[str]) -> bool:
    """True when ``cidrs`` is not empty (empty means any IP) and each lies in one of ``bounds``.

    Each network is looked up by its supernets at the bounds' prefix lengths (at most 129
    distinct), not compared with every bound.
    """
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]
    if not networks:
        return False
    bound_networks = {ipaddress.ip_network(bound, strict=False) for bound in bounds}
    prefixes = {(network.version, network.prefixlen) for network in bound_networks}
    for network in networks:
        if not any(
            version == network.version
            and prefixlen <= network.prefixlen
            and network.supernet(new_prefix=prefixlen) in bound_networks
            for version, prefixlen in prefixes
        ):
            return False
    return True


def rate_limit_within(rate_limit: Mapping[str, Any], bound: Mapping[str, Any]) -> bool:
    """True when every window of ``rate_limit`` allows no more than ``bound``'s (None: no limit)."""
    for window in RATE_WINDOWS:
        limit, ceiling = rate_limit.get(window), bound.get(window)
        if ceiling is None:
            continue
        if limit is None or limit > ceiling:
            return False
    return True
