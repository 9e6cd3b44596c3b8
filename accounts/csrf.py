"""CSRF for the public form/JSON endpoints: checked exactly when a cookie credential rides along.

SPEC §2: "a post that carries a session cookie must carry a valid CSRF token; one with no cookie
needs none." These endpoints serve the site's own pages and cookie-less clients (curl, scripts)
alike, so they are exempt from the middleware and call ``csrf_enforce_for_cookies`` instead. The
``access_token`` cookie is an ambient credential too, so it triggers the check as well.
"""

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import CSRFCheck

from accounts.authentication import ACCESS_COOKIE

CSRF_FAILED = "csrf_failed"


def carries_cookie_credential(request) -> bool:
    cookies = request.COOKIES
    return settings.SESSION_COOKIE_NAME in cookies or ACCESS_COOKIE in cookies


def csrf_enforce_for_cookies(request) -> None:
    """Run Django's CSRF check when the request carries a cookie credential; 403 if it fails."""
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    if not carries_cookie_credential(request):
        return
    check = CSRFCheck(lambda _request: None)
    check.process_request(request)  # reads the CSRF cookie into request.META
    reason = check.process_view(request, None, (), {})
    if reason:
        raise exceptions.PermissionDenied(f"CSRF Failed: {reason}", code=CSRF_FAILED)
