"""Judging a key's requests by its active proposals, beside the live rules (on every request).

Pure Python on the cached record (``metering.verified``): no query, no trip of its own. What it
returns (``metering.backends.Shadow``) rides the request's one counting trip.
"""

import copy
import dataclasses
import time
from functools import lru_cache

from apikeys.models import MAX_ROUTE_LENGTH
from apikeys.permissions import route_rules, route_view, view_rules
from core.client_ip import client_ip
from core.principal import Principal
from identity import policy
from identity.authorize import authorize, endpoint_granted, ip_refusal
from identity.limits import effective_rate_limit
from identity.paths import InvalidPath, normalise_path
from metering.backends import MAX_ROUTES_PER_DAY, Shadow, ShadowJudged
from metering.meter import _plan_at


def shadow_for_request(principal: Principal, request) -> Shadow | None:
    """What rides the key's counting trip for ``request``: its route, its proposals' verdicts.

    ``None`` when there is nothing to record (a path that cannot be judged). Pure Python on
    the cached record: no query, no trip of its own.
    """
    target = _target(request)
    if target is None:
        return None
    method, path, route, rules = target
    if not _first_today(principal, method, route):
        route = ""  # already sent from this process today: the script need not look again
    compiled = _compiled(principal)
    if not compiled:
        return _route_only(method, path, route) if route else None
    return _judged(principal, compiled, method, path, route, client_ip(request), rules)


def _first_today(principal: Principal, method: str, route: str) -> bool:
    """Whether this process has not yet sent ``(method, route)`` for this key today.

    Remembered on the cached record, so a key's steady traffic to known routes sends no route
    at all and costs what it cost before routes were recorded. Best effort: a route whose trip
    failed is sent again by another process, or tomorrow.
    """
    day = int(time.time()) // 86400
    sent = principal.derived.get("routes_sent")
    if sent is None or sent[0] != day:
        sent = principal.derived["routes_sent"] = (day, set())
    routes = sent[1]
    if (method, route) in routes or len(routes) >= MAX_ROUTES_PER_DAY:
        return False
    routes.add((method, route))
    return True


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


def _judged(principal, compiled, method, path, route, ip, rules) -> Shadow:
    """``judge``'s answer as a ``Shadow``, remembered on the cached record.

    The rules are decided once per (method, path, IP) for as long as the record is cached (a
    change to the key or its proposals is a new record), and the answer is rebuilt once a
    second (the proposals' windows move at most that often): a key's steady traffic pays a dict
    lookup. Entries are replaced whole, so threads never see one half-built.
    """
    remembered = principal.derived.get("shadow_verdicts")
    if remembered is None:
        remembered = principal.derived["shadow_verdicts"] = {}
    second = int(time.time())
    entry = remembered.get((method, path, ip))
    if entry is not None and entry[0] == second:
        shadow = entry[2]
    else:
        if entry is not None:
            decided = entry[1]
        else:
            decided = _decide(principal, compiled, method, path, ip, rules)
            if len(remembered) >= MAX_VERDICTS:
                remembered.clear()
        shadow = Shadow(method, path, "", _with_windows(compiled, decided, second))
        remembered[(method, path, ip)] = (second, decided, shadow)
    observed = _route_only(method, path, route) if route else None
    if observed is not None:  # the route's first request today: sent once, with the verdicts
        return shadow._replace(observed=observed.observed)
    return shadow


def judge(principal, compiled, method, path, ip, rules) -> tuple[ShadowJudged, ...]:
    """Each proposal's verdict: ``""`` admits, ``"-"`` the live rules refuse anyway, else a rule.

    A proposal's rate windows are left to the script, which counts them in the same trip.
    """
    decided = _decide(principal, compiled, method, path, ip, rules)
    return _with_windows(compiled, decided, int(time.time()))


def _with_windows(compiled, decided, second: int) -> tuple[ShadowJudged, ...]:
    return tuple(
        ShadowJudged(
            proposal_id, rule, _plan_at(bucket, windows, second).counters if windows else ()
        )
        for (proposal_id, bucket, _, windows), rule in zip(compiled, decided, strict=True)
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
