"""DRF's side of the one authorization decision (``identity.authorize``): permission classes,
the route rules a view declares, and the 403 a refusal becomes."""

from functools import lru_cache

from django.conf import settings
from django.urls import Resolver404, get_urlconf, resolve
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from core.client_ip import client_ip
from core.errors import InsufficientScope
from core.principal import principal_of
from identity.authorize import Decision, authorize, endpoint_granted, ip_refusal


def refusal(decision: Decision) -> exceptions.PermissionDenied:
    """The 403 to raise for ``decision``; for a missing scope, RFC 6750's challenge too."""
    if decision.scopes:
        return InsufficientScope(decision.reason, code=decision.code, scopes=decision.scopes)
    return exceptions.PermissionDenied(decision.reason, code=decision.code)


def decision_for_request(request, view=None) -> Decision:
    principal = principal_of(request)
    return authorize(
        principal,
        method=request.method,
        path=request.path,
        ip=client_ip(request),
        **view_rules(view),
    )


def view_rules(view) -> dict:
    """The ``authorize`` arguments a view declares (``scope_resource``, ``admin_only``, …)."""
    return {
        "resource": getattr(view, "scope_resource", None),
        "admin_only": getattr(view, "admin_only", False),
        "app_access": getattr(view, "app_access", False),
        "key_management": getattr(view, "key_management", False),
        "required_scope": getattr(view, "required_scope", None),
    }


def route_view(path: str):
    """The DRF view class of Keyward's route at ``path``; ``None`` for any other path.

    ``auth/check`` and ``keys/verify`` ask this of the path they judge, twice a call (its rules,
    then whether it acts in a tenant), and a proxy sends the same few paths over and over; URL
    resolution is the costliest step of that judgement, so answers are kept per URLconf and path
    (bounded: the paths are the callers' to choose).
    """
    return _route_view(get_urlconf() or settings.ROOT_URLCONF, path)


@lru_cache(maxsize=1024)
def _route_view(urlconf: str, path: str):
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    view = getattr(match.func, "view_class", None)
    return view if view is not None and hasattr(view, "permission_classes") else None


def route_rules(path: str) -> dict:
    """The ``authorize`` arguments for ``path``: a Keyward route's own, else derived.

    ``/api/v1/orders/5`` on another service has the resource ``orders`` (the first segment
    after an optional ``/api`` and version), so ``orders:read``/``orders:write`` apply to it.
    """
    view = route_view(path)
    if view is not None:
        return view_rules(view)
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    if segments[:1] == ["api"]:
        segments = segments[1:]
    if segments and segments[0][:1] == "v" and segments[0][1:].isdigit():
        segments = segments[1:]
    resource = segments[0].lower() if segments else None
    return {"resource": resource, "app_access": True}


class WithinEndpointGrants(BasePermission):
    """A key with endpoint grants calls only the requests they match (SPEC §3), even here."""

    def has_permission(self, request, view):
        principal = principal_of(request)
        if principal is None or not principal.endpoints:
            return True
        if endpoint_granted(principal.endpoints, request.method, request.path):
            return True
        raise exceptions.PermissionDenied(
            f"No endpoint grant of this key matches {request.method} {request.path}.",
            code="insufficient_permissions",
        )


class IsAuthenticatedAndAllowed(BasePermission):
    """The caller is authenticated and ``authorize`` allows this request.

    Views declare ``scope_resource``, ``admin_only``, ``app_access`` or ``key_management``.
    A denial is raised with its §8 code and reason, so the client learns which rule decided.
    """

    def has_permission(self, request, view):
        if principal_of(request) is None:
            return False  # DRF answers 401 authentication_required
        decision = decision_for_request(request, view)
        if not decision.allowed:
            raise refusal(decision)
        return True


class HasPrincipal(BasePermission):
    """Authenticated by any credential, from an allowed IP; no scope is asked for.

    For endpoints about the caller itself (key info) and for auth/check, whose decision is
    about the original request rather than this one.
    """

    def has_permission(self, request, view):
        principal = principal_of(request)
        if principal is None:
            return False
        if (refused := ip_refusal(principal, client_ip(request))) is not None:
            raise exceptions.PermissionDenied(refused.reason, code=refused.code)
        return True
