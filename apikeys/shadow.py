"""Shadow restrictions and least-privilege suggestions (SPEC §12): keys that tighten themselves.

A *proposal* is a change to a key — any of ``scopes``, ``endpoints``, ``allowed_ips``,
``rate_limit`` — that runs in report-only mode. Every request made with the key is judged by the
live rules and by each active proposal; only the live rules decide. A request the live rules
admit and a proposal refuses is a *would-be refusal*: counted, and remembered with its method,
normalised path, client IP and the rule that would refuse it (the last 1,000 per key).

**No cost on the hot path.** The active proposals ride the key's row (``ApiKey.shadow``, kept in
step here), so the one indexed probe that authenticates a key brings them, and the verified
record cached per key (``metering.verified``) carries them; creating, applying or deleting a
proposal moves the key's generation on, so every node reloads it. The verdicts ride the
per-request counting script (``metering.backends``: its shadow block), which also counts a
proposal's own rate windows (counted, never enforced) and remembers the key's (method, route)
of the day for the suggestion. Nothing is written to the database per request: the figures are
flushed with usage (``metering.usage``), and every read flushes first, so it is exact at once.

**Suggestion.** From the routes a key was seen calling over N days (``ApiKeyRoute``: the Django
URL pattern of Keyward's own API; for ``auth/check`` of another service, the normalised
forwarded path), the narrowest scopes and grants that admit all of them, within what the key
holds now, so that it can be proposed and applied as a PATCH.

Applying goes through ``services.api_key_update``: the same rules as a PATCH, the same
escalation rule (``identity.reach``), the same everywhere-or-nowhere change.
"""

import copy
import dataclasses
import logging
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from apikeys import rules as key_rules
from apikeys import services
from apikeys.limits import effective_rate_limit
from apikeys.models import ApiKey, ApiKeyRoute, Proposal
from apikeys.permissions import (
    authorize,
    endpoint_granted,
    ip_refusal,
    route_rules,
    route_view,
    view_rules,
)
from audit.services import audit_record
from core.cache import CACHE_ERRORS
from core.client_ip import client_ip
from core.errors import Conflict
from core.principal import AuthMethod, Principal
from identity.paths import InvalidPath, normalise_path
from metering import backends, policy, verified
from metering.backends import MAX_ROUTES_PER_DAY, RECENT_MAX, Shadow, ShadowJudged
from metering.meter import _plan_at

logger = logging.getLogger(__name__)

PROPOSABLE = ("scopes", "endpoints", "allowed_ips", "rate_limit")
MAX_ACTIVE_PROPOSALS = 5  # per key: each is judged on every request
MAX_ROUTE_LENGTH = 512  # a longer path is not remembered (``ApiKeyRoute.path``)
SPIKE_EVENT = "api_key.proposal_would_refuse_spike"

# --- judging, on every request ---------------------------------------------------------------


def shadow_for_request(principal: Principal, request) -> Shadow | None:
    """What rides the key's counting trip for ``request``: its route, its proposals' verdicts.

    ``None`` when there is nothing to record (a path that cannot be judged). Pure Python on
    the cached record: no query, no trip of its own.
    """
    target = _target(request)
    if target is None:
        return None
    method, path, route, rules = target
    compiled = _compiled(principal)
    if not compiled:
        return _route_only(method, path, route)
    observed = _route_only(method, path, route)
    return Shadow(
        method,
        path,
        observed.observed if observed is not None else "",
        judge(principal, compiled, method, path, client_ip(request), rules),
    )


@lru_cache(maxsize=4096)
def _route_only(method: str, path: str, route: str) -> Shadow | None:
    """A request of a key without proposals: only its route to remember (built once)."""
    if len(route) > MAX_ROUTE_LENGTH:
        return None
    return Shadow(method, path, f"{method} {route}")


def shadow_for_verify(principal: Principal, *, method: str, path: str | None, ip) -> Shadow | None:
    """``keys/verify``: the request it describes, judged as if the key had made it."""
    if path is None:
        route, rules = "", {}
    else:
        route, rules = _forwarded(path)
    compiled = _compiled(principal)
    observed = f"{method} {route}" if route and len(route) <= MAX_ROUTE_LENGTH else ""
    if not compiled and not observed:
        return None
    judged = judge(principal, compiled, method, path, ip, rules) if compiled else ()
    return Shadow(method, path or "", observed, judged)


MAX_VERDICTS = 4096  # per cached record: (method, path, ip) the key was judged for


def judge(principal, compiled, method, path, ip, rules) -> tuple[ShadowJudged, ...]:
    """Each proposal's verdict: ``""`` admits, ``"-"`` the live rules refuse anyway, else a rule.

    The rules are decided once per (method, path, IP) for as long as the record is cached (a
    change to the key or its proposals is a new record), so a key's steady traffic pays a dict
    lookup; a proposal's rate windows are left to the script, which counts them in the trip.
    """
    verdicts = principal.derived.get("shadow_verdicts")
    if verdicts is None:
        verdicts = principal.derived["shadow_verdicts"] = {}
    rules_of_proposals = verdicts.get((method, path, ip))
    if rules_of_proposals is None:
        if len(verdicts) >= MAX_VERDICTS:
            verdicts.clear()
        rules_of_proposals = verdicts[(method, path, ip)] = _decide(
            principal, compiled, method, path, ip, rules
        )
    second = int(time.time())
    return tuple(
        ShadowJudged(
            proposal_id, rule, _plan_at(bucket, windows, second).counters if windows else ()
        )
        for (proposal_id, bucket, _, windows), rule in zip(
            compiled, rules_of_proposals, strict=True
        )
    )


def _decide(principal, compiled, method, path, ip, rules) -> tuple[str, ...]:
    if path is None:
        live_allows = ip_refusal(principal, ip) is None
    else:
        live_allows = authorize(principal, method=method, path=path, ip=ip, **rules).allowed
    if not live_allows:
        return ("-",) * len(compiled)
    return tuple(
        _refusing_rule(proposed, method, path, ip, rules) for _, _, proposed, _ in compiled
    )


def _refusing_rule(proposed: Principal, method, path, ip, rules) -> str:
    """The field of the proposal that would refuse the request, or ``""``."""
    if ip_refusal(proposed, ip) is not None:
        return "allowed_ips"
    if path is None:
        return ""
    if proposed.endpoints and not endpoint_granted(proposed.endpoints, method, path):
        return "endpoints"
    if not authorize(proposed, method=method, path=path, ip=ip, **rules).allowed:
        return "scopes"
    return ""


def _compiled(principal: Principal) -> tuple:
    """The key's active proposals as principals, once per cached record."""
    compiled = principal.derived.get("shadow")
    if compiled is None:
        api_key = principal.api_key
        compiled = tuple(
            _compile(principal, api_key, entry["id"], entry["changes"])
            for entry in (getattr(api_key, "shadow", None) or ())
        )
        principal.derived["shadow"] = compiled
    return compiled


def _compile(principal: Principal, api_key, proposal_id: str, changes: dict):
    proposed = dataclasses.replace(
        principal,
        scopes=tuple(changes.get("scopes", principal.scopes)),
        endpoints=tuple(changes.get("endpoints", principal.endpoints)),
        allowed_ips=tuple(changes.get("allowed_ips", principal.allowed_ips)),
        derived={},
    )
    windows = ()
    if "rate_limit" in changes:
        shaped = copy.copy(api_key)
        shaped.rate_limit = changes["rate_limit"]
        windows = policy._windows(effective_rate_limit(shaped))
    return proposal_id, f"shadow:{proposal_id}", proposed, windows


def _target(request):
    """``(method, normalised path, route, authorize rules)`` of the request a key is used for.

    ``auth/check`` judges the forwarded request (``X-Original-Method``, ``X-Original-URI``);
    any other route the request itself, its route being the Django URL pattern.
    """
    django_request = getattr(request, "_request", request)
    match = getattr(django_request, "resolver_match", None)
    name = getattr(match, "url_name", None)
    if name == "auth-check" or (match is None and django_request.path.endswith("/auth/check")):
        meta = django_request.META
        method = (meta.get("HTTP_X_ORIGINAL_METHOD") or django_request.method).upper()
        uri = meta.get("HTTP_X_ORIGINAL_URI")
        if uri is None:
            uri = "/"
        if len(uri) > 2048 or not uri.isascii():
            return None
        try:
            path = normalise_path(uri.split("?", 1)[0])
        except InvalidPath:
            return None
        route, rules = _forwarded(path)
        return method, path, route, rules
    method, path = django_request.method, django_request.path
    if match is None:
        route, rules = _forwarded(path)
        return method, path, route, rules
    return method, path, _route_of(match.route), _rules_of(match.func)


@lru_cache(maxsize=4096)
def _forwarded(path: str) -> tuple[str, dict]:
    """A path's route (Keyward's URL pattern, else the path itself) and its rules."""
    from django.urls import Resolver404, resolve

    try:
        match = resolve(path)
    except Resolver404:
        match = None
    route = _route_of(match.route) if match is not None and route_view(path) else path
    return route, route_rules(path)


@lru_cache(maxsize=512)
def _route_of(pattern: str) -> str:
    return "/" + pattern.lstrip("^").rstrip("$")


@lru_cache(maxsize=512)
def _rules_of(view_func) -> dict:
    return view_rules(getattr(view_func, "view_class", None))


# --- proposals --------------------------------------------------------------------------------


def proposal_create(
    *, api_key: ApiKey, changes: dict, actor=None, creator=None, request=None
) -> Proposal:
    """Propose ``changes``; refused as the same PATCH would be refused now (SPEC §12)."""
    unknown = set(changes) - set(PROPOSABLE)
    if unknown or not changes:
        raise ValidationError(
            {"non_field_errors": ["Propose one or more of: " + ", ".join(PROPOSABLE) + "."]}
        )
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().select_related("user").get(pk=api_key.pk)
        if _active(api_key).count() >= MAX_ACTIVE_PROPOSALS:
            raise ValidationError(
                {
                    "non_field_errors": [
                        f"At most {MAX_ACTIVE_PROPOSALS} proposals per key are watched at once: "
                        "apply or delete one first."
                    ]
                }
            )
        services.api_key_change(copy.copy(api_key), dict(changes), actor=actor, creator=creator)
        proposal = Proposal.objects.create(
            api_key=api_key, changes=dict(changes), created_by=_user_or_none(actor)
        )
        _publish(api_key)
        audit_record(
            event_type="api_key.proposal_created",
            request=request,
            actor=actor,
            target=api_key,
            tenant_id=api_key.tenant_id,
            data={"proposal_id": str(proposal.pk), "changes": proposal.changes},
        )
    return proposal


def proposal_apply(*, proposal: Proposal, actor=None, creator=None, request=None) -> Proposal:
    """Make the proposal live: a PATCH of the key through ``services.api_key_update``."""
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
        if proposal.applied_at is not None:
            raise Conflict("This proposal has already been applied.", code="already_applied")
        api_key = services.api_key_update(
            api_key=proposal.api_key,
            changes=dict(proposal.changes),
            actor=actor,
            creator=creator,
            request=request,
        )
        proposal.applied_at = timezone.now()
        proposal.save(update_fields=["applied_at"])
        _publish(api_key)
        audit_record(
            event_type="api_key.proposal_applied",
            request=request,
            actor=actor,
            target=api_key,
            tenant_id=api_key.tenant_id,
            data={"proposal_id": str(proposal.pk), "changes": proposal.changes},
        )
    return proposal


def proposal_delete(*, proposal: Proposal, actor=None, creator=None, request=None) -> None:
    """Stop watching the proposal and drop it (its figures go with it)."""
    key_rules.check_escalation(creator, proposal.api_key)  # as a PATCH of the key would
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().get(pk=proposal.api_key_id)
        proposal_id = str(proposal.pk)
        proposal.delete()
        _publish(api_key)
        audit_record(
            event_type="api_key.proposal_deleted",
            request=request,
            actor=actor,
            target=api_key,
            tenant_id=api_key.tenant_id,
            data={"proposal_id": proposal_id},
        )


def proposals_fresh(api_key: ApiKey):
    """The key's proposals with their figures exact: the buffered ones are flushed first."""
    shadow_flush_quietly(api_key.pk)
    return Proposal.objects.filter(api_key_id=api_key.pk)


def _active(api_key: ApiKey):
    return Proposal.objects.filter(api_key_id=api_key.pk, applied_at__isnull=True)


def _publish(api_key: ApiKey) -> None:
    """Copy the active proposals onto the key's row, and have every node reload it.

    A proposal narrows nothing by itself, so the reload is best effort (as a new membership's):
    ``QuerySet.update`` sends no signal that would retire the key.
    """
    active = [
        {"id": str(pk), "changes": changes}
        for pk, changes in _active(api_key)
        .order_by("created_at", "id")
        .values_list("id", "changes")
    ]
    ApiKey.objects.filter(pk=api_key.pk).update(shadow=active)
    verified.invalidate_on_commit(policy.cache_key_of_key(api_key.key_hash))


def _user_or_none(actor):
    return actor if getattr(actor, "pk", None) else None


# --- flushing, with usage ---------------------------------------------------------------------


def shadow_flush(key_id: str) -> None:
    """Move a key's buffered shadow figures and routes into the database; put back on failure.

    Called by ``metering.usage.usage_flush`` for each key with some, and before every read of
    them. A failure to write is logged, not raised: the usage beside it is flushed already.
    """
    backend = backends.active()
    pending = backend.shadow_take(key_id)
    if not pending:
        return
    try:
        _apply(key_id, pending)
    except Exception:
        backend.shadow_restore(key_id, pending)
        logger.exception("shadow flush failed for key %s; buffer restored", key_id)


def shadow_flush_quietly(key_id) -> None:
    """Flush before a read, so it shows exact figures; a cache outage must not break the read."""
    try:
        shadow_flush(str(key_id))
    except CACHE_ERRORS:
        logger.warning("shadow flush skipped: cache unavailable")


@transaction.atomic
def _apply(key_id: str, pending: backends.ShadowPending) -> None:
    api_key = ApiKey.objects.filter(pk=key_id).first()
    if api_key is None:
        return  # deleted meanwhile: its proposals and routes went with it
    if pending.judged:
        _apply_proposals(api_key, pending)
    if pending.observed:
        _apply_routes(api_key, pending.observed)


def _apply_proposals(api_key: ApiKey, pending: backends.ShadowPending) -> None:
    recent = defaultdict(list)
    for entry in pending.recent:
        parts = entry.split("\t")
        if len(parts) != 6:
            continue
        proposal_id, method, path, ip, rule, at = parts
        recent[proposal_id].append(
            {
                "method": method,
                "path": path,
                "ip": ip or None,
                "rule": rule,
                "at": datetime.fromtimestamp(int(at), tz=UTC).isoformat(),
            }
        )
    ids = [pid for pid in pending.judged if _is_uuid(pid)]
    proposals = Proposal.objects.select_for_update().filter(api_key=api_key, pk__in=ids)
    for proposal in proposals:
        pid = str(proposal.pk)
        proposal.judged += pending.judged.get(pid, 0)
        proposal.would_refuse += pending.refused.get(pid, 0)
        proposal.recent = (recent[pid] + list(proposal.recent or ()))[:RECENT_MAX]
        fields = ["judged", "would_refuse", "recent"]
        level = spike_level(proposal.would_refuse)
        if level > proposal.spike_level:
            proposal.spike_level = level
            fields.append("spike_level")
            _record_spike(api_key, proposal, level)
        proposal.save(update_fields=fields)


def spike_threshold() -> int:
    return settings.KEYWARD_PROPOSAL_SPIKE_THRESHOLD


def spike_level(would_refuse: int) -> int:
    """The highest of the threshold, ten times it, a hundred times… reached; 0 for none."""
    level, threshold = 0, spike_threshold()
    if threshold <= 0:
        return 0
    while would_refuse >= threshold:
        level, threshold = threshold, threshold * 10
    return level


def _record_spike(api_key: ApiKey, proposal: Proposal, level: int) -> None:
    """Once per level crossed: notifications turn the audit event into a webhook."""
    audit_record(
        event_type=SPIKE_EVENT,
        target=api_key,
        tenant_id=api_key.tenant_id,
        data={
            "proposal_id": str(proposal.pk),
            "key_prefix": api_key.key_prefix,
            "threshold": level,
            "would_refuse": proposal.would_refuse,
            "judged": proposal.judged,
        },
    )


def _apply_routes(api_key: ApiKey, observed) -> None:
    by_day = defaultdict(set)
    for entry in observed:
        day, _, route = entry.partition("\t")
        method, _, path = route.partition(" ")
        if day and method and path and len(path) <= MAX_ROUTE_LENGTH:
            by_day[date.fromisoformat(day)].add((method, path))
    known = dict(
        ApiKeyRoute.objects.filter(api_key=api_key, date__in=list(by_day))
        .values("date")
        .annotate(n=Count("id"))
        .values_list("date", "n")
    )
    rows = []
    for day, routes in by_day.items():
        existing = set(
            ApiKeyRoute.objects.filter(api_key=api_key, date=day).values_list("method", "path")
        )
        room = MAX_ROUTES_PER_DAY - known.get(day, 0)
        for method, path in sorted(routes - existing)[: max(room, 0)]:
            rows.append(ApiKeyRoute(api_key=api_key, date=day, method=method, path=path))
    ApiKeyRoute.objects.bulk_create(rows, ignore_conflicts=True)


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- least-privilege suggestion ---------------------------------------------------------------

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
