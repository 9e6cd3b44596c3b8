"""CSRF for the public form/JSON endpoints: a cookie needs a token; a cross-site post is refused.

SPEC §2: "a post that carries a session cookie must carry a valid CSRF token; one with no cookie
needs none." These endpoints serve the site's own pages and cookie-less clients (curl, scripts)
alike, so they are exempt from the middleware and call ``csrf_enforce_for_cookies`` instead. The
``access_token`` cookie is an ambient credential too, so it triggers the check as well.

SPEC §9, "cookie-less is not cross-site": without a cookie there is no token to check, so a page
on another site could post the attacker's own credentials and log the victim's browser into the
attacker's account (login CSRF). A cookie-less post is therefore refused when the browser says it
comes from another site: ``Sec-Fetch-Site: cross-site``, or an ``Origin`` (else ``Referer``) that
names none of our hosts. curl and scripts send none of these headers, so they are not affected.
A browser sends a JSON body to another origin only after a CORS preflight, which Keyward grants
only to ``KEYWARD_CORS_ALLOWED_ORIGINS``; such an origin's app may still post JSON.
"""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain
from rest_framework import exceptions
from rest_framework.authentication import CSRFCheck

from accounts.authentication import ACCESS_COOKIE

CSRF_FAILED = "csrf_failed"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Fetch's CORS-safelisted request content types: what a page of any site can make a browser
# post here without asking first (a form, or fetch in no-cors mode). No type at all counts too.
SIMPLE_CONTENT_TYPES = frozenset(
    {"", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)


class CrossSitePost(exceptions.PermissionDenied):
    """403 ``csrf_failed`` for a cookie-less post that a page of another site sent."""

    default_detail = "CSRF Failed: cross-site request refused."
    default_code = CSRF_FAILED


def carries_cookie_credential(request) -> bool:
    cookies = request.COOKIES
    return settings.SESSION_COOKIE_NAME in cookies or ACCESS_COOKIE in cookies


def csrf_enforce_for_cookies(request) -> None:
    """Run Django's CSRF check when a cookie credential rides along; refuse cross-site posts.

    403 ``csrf_failed`` when either fails.
    """
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    if not carries_cookie_credential(request):
        if (
            request.method not in SAFE_METHODS
            and is_cross_site(request)
            and not _preflighted_by_an_allowed_origin(request)
        ):
            raise CrossSitePost()
        return
    check = CSRFCheck(lambda _request: None)
    check.process_request(request)  # reads the CSRF cookie into request.META
    reason = check.process_view(request, None, (), {})
    if reason:
        raise exceptions.PermissionDenied(f"CSRF Failed: {reason}", code=CSRF_FAILED)


def is_cross_site(request) -> bool:
    """Whether the browser says ``request`` was sent by a page of another site.

    ``Sec-Fetch-Site: cross-site`` says so; so does an ``Origin`` (or, without one, a
    ``Referer``) that names none of our hosts: the request's own host, a host of
    ``ALLOWED_HOSTS`` (a bare ``*`` names none) or an origin of ``CSRF_TRUSTED_ORIGINS``.
    ``Origin: null`` (a sandboxed frame, a ``data:`` page) and an unreadable ``Referer`` name
    none either. A request with none of these headers (curl, scripts) is not cross-site.
    """
    meta = request.META
    if meta.get("HTTP_SEC_FETCH_SITE", "").strip().lower() == "cross-site":
        return True
    source = meta.get("HTTP_ORIGIN") or meta.get("HTTP_REFERER")
    return bool(source) and not _is_our_origin(request, source)


def _is_our_origin(request, url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname
    except ValueError:
        return False
    if not parts.scheme or not hostname:
        return False
    netloc = hostname if parts.port is None else f"{hostname}:{parts.port}"
    try:
        if netloc == request.get_host().lower():
            return True
    except DisallowedHost:
        pass
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        allowed = urlsplit(trusted)
        if allowed.scheme != parts.scheme.lower():
            continue
        pattern = allowed.netloc.lower()
        if netloc == pattern or (pattern.startswith("*") and is_same_domain(netloc, pattern[1:])):
            return True
    domain, _port = split_domain_port(netloc)
    return validate_host(domain, [host for host in settings.ALLOWED_HOSTS if host != "*"])


def _preflighted_by_an_allowed_origin(request) -> bool:
    """A body a browser sends cross-origin only after CORS approved the ``Origin`` (JSON)."""
    content_type = (request.content_type or "").strip().lower()
    if content_type in SIMPLE_CONTENT_TYPES:
        return False
    origin = request.META.get("HTTP_ORIGIN", "")
    return bool(origin) and (
        settings.CORS_ALLOW_ALL_ORIGINS
        or origin in settings.CORS_ALLOWED_ORIGINS
        or any(re.match(pattern, origin) for pattern in settings.CORS_ALLOWED_ORIGIN_REGEXES)
    )
