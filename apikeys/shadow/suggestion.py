"""The least-privilege suggestion: the narrowest scopes and grants the recorded traffic needed."""

from collections import defaultdict
from datetime import date, timedelta

from django.utils import timezone

from apikeys import rules as key_rules
from apikeys.models import ApiKey, ApiKeyRoute
from apikeys.permissions import route_rules
from apikeys.shadow.flush import shadow_flush_quietly
from core.principal import AuthMethod, Principal
from identity.authorize import authorize, endpoint_granted

MAX_SUGGESTION_DAYS = 365
GRANT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
_SAMPLE = {"uuid": "00000000-0000-0000-0000-000000000000", "int": "1"}


def suggestion_for(api_key: ApiKey, *, days: int, today: date | None = None) -> dict:
    """The narrowest scopes and grants that admit every request of the last ``days`` days.

    Within what the key holds (a scoped key keeps a subset of its scopes, a key with grants a
    narrowing of them), so that the suggestion is a valid PATCH. With nothing observed the
    suggestion is the key as it is, and ``removes`` is empty.
    """
    shadow_flush_quietly(api_key.pk)
    today = today or timezone.now().date()
    pairs = sorted(
        set(
            ApiKeyRoute.objects.filter(
                api_key=api_key, date__gt=today - timedelta(days=days)
            ).values_list("method", "path")
        )
    )
    observed = [{"method": method, "path": path} for method, path in pairs]
    scopes, endpoints = list(api_key.scopes), list(api_key.endpoints)
    if pairs:
        scopes = _narrowest_scopes(api_key, pairs)
        endpoints = _narrowest_grants(api_key, pairs)
        if not scopes and not endpoints:
            scopes, endpoints = list(api_key.scopes), list(api_key.endpoints)
    removes = [{"field": "scopes", "value": s} for s in api_key.scopes if s not in scopes]
    if not api_key.endpoints and endpoints:
        removes.append({"field": "endpoints", "value": "every path outside the grants"})
    for grant in api_key.endpoints:
        kept = next((g for g in endpoints if g["path"] == grant["path"]), None)
        dropped = sorted(set(grant["methods"]) - set(kept["methods"] if kept else ()))
        if dropped:
            removes.append({"field": "endpoints", "value": {**grant, "methods": dropped}})
    if api_key.full_access and scopes:
        removes.append({"field": "scopes", "value": "full access of the owner"})
    return {
        "days": days,
        "scopes": scopes,
        "endpoints": endpoints,
        "removes": removes,
        "observed": observed,
    }


def api_key_routes_prune(*, today: date) -> int:
    """Delete routes older than any suggestion looks back (``MAX_SUGGESTION_DAYS``)."""
    cutoff = today - timedelta(days=MAX_SUGGESTION_DAYS)
    deleted, _ = ApiKeyRoute.objects.filter(date__lte=cutoff).delete()
    return deleted


def suggestion_changes(api_key: ApiKey, suggestion: dict) -> dict:
    """The fields of ``suggestion`` that differ from the key: the body of its proposal."""
    changes = {}
    if sorted(suggestion["scopes"]) != sorted(api_key.scopes):
        changes["scopes"] = suggestion["scopes"]
    if suggestion["endpoints"] != list(api_key.endpoints):
        changes["endpoints"] = suggestion["endpoints"]
    return changes


def _concrete(pattern: str) -> str:
    """A path the pattern matches, to ask the router for the route's rules."""
    parts = []
    for segment in pattern.split("/"):
        if segment.startswith("<") and segment.endswith(">"):
            converter = segment[1:-1].partition(":")[0] if ":" in segment else "str"
            segment = _SAMPLE.get(converter, "x")
        parts.append(segment)
    return "/".join(parts)


def _needed_scope(method: str, path: str) -> str | None:
    """The narrowest scope that admits ``method`` on the route ``path``; ``None``: admin only."""
    rules = route_rules(_concrete(path))
    if rules.get("admin_only"):
        return None
    if rules.get("required_scope"):
        return rules["required_scope"]
    safe = method in ("GET", "HEAD", "OPTIONS")
    if rules.get("resource"):
        return f"{rules['resource']}:{'read' if safe else 'write'}"
    return "read:all" if safe else "write:all"


def _narrowest_scopes(api_key: ApiKey, pairs) -> list[str]:
    if not api_key.scopes:
        if api_key.endpoints:
            return []  # grants only: the grants narrow, scopes stay none
        wanted = {_needed_scope(method, path) for method, path in pairs}
        if None in wanted:
            wanted.discard(None)
            if api_key.key_type == "admin":
                wanted.add("admin")
        for wide, action in (("read:all", ":read"), ("write:all", ":write")):
            if wide in wanted:  # it admits every <resource>:<action> already
                wanted = {s for s in wanted if not s.endswith(action) or s == wide}
        return sorted(wanted)
    chosen = set()
    for method, path in pairs:
        concrete = _concrete(path)
        rules = route_rules(concrete)
        admitting = [
            scope
            for scope in api_key.scopes
            if authorize(
                _principal_with(api_key, (scope,)), method=method, path=concrete, **rules
            ).allowed
        ]
        if not admitting or chosen & set(admitting):
            continue  # refused live anyway, or admitted by a scope already chosen
        chosen.add(min(admitting, key=_breadth))
    return sorted(chosen)


def _breadth(scope: str) -> tuple[int, str]:
    return ({"read:all": 1, "write:all": 1, "admin": 2}.get(scope, 0), scope)


def _principal_with(api_key: ApiKey, scopes) -> Principal:
    return Principal(
        auth_method=AuthMethod.API_KEY,
        user=api_key.user,
        scopes=tuple(scopes),
        api_key=api_key,
        key_type=api_key.key_type,
        key_manager=api_key.key_manager,
    )


def _grant_base(pattern: str) -> str:
    """A route pattern as a grant: its path up to the first parameter (grants admit below)."""
    kept = []
    for segment in pattern.split("/"):
        if "<" in segment:
            break
        kept.append(segment)
    return "/".join(kept).rstrip("/") or "/"


def _narrowest_grants(api_key: ApiKey, pairs) -> list[dict]:
    if api_key.endpoints:
        grants = []
        for grant in api_key.endpoints:
            methods = {
                method
                for method, path in pairs
                if method in GRANT_METHODS and endpoint_granted([grant], method, _concrete(path))
            }
            if methods:
                grants.append({"path": grant["path"], "methods": sorted(methods)})
        return grants
    methods_by_base = defaultdict(set)
    for method, path in pairs:
        base = _grant_base(path)
        if method in GRANT_METHODS and base != "/":
            methods_by_base[base].add(method)
    if len(methods_by_base) > key_rules.MAX_ENDPOINTS:  # more than a key holds: scopes narrow it
        return []
    return [
        {"path": base, "methods": sorted(methods)}
        for base, methods in sorted(methods_by_base.items())
    ]
