"""Middleware that does nothing for a request that cannot use it — the session store for a
request that never opens it, the message storage for an API answer, CORS while no origin is
allowed — and the Content-Security-Policy that every HTML page is sent with.

Every API request passes through the whole stack, so a middleware that builds something the
request never uses costs every request (measured in docs/performance.md). Each of these is the
library's own middleware, left out through its documented hooks: never by reaching inside it.
"""

from corsheaders import middleware as cors
from corsheaders.signals import check_request_enabled
from django.conf import settings
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.exceptions import MiddlewareNotUsed
from django.utils.functional import SimpleLazyObject
from rest_framework.permissions import SAFE_METHODS

API_PREFIXES = ("/api/", "/oauth2/")


def is_api(request) -> bool:
    """A request to the API (JSON answers, no pages), as ``CORS_URLS_REGEX`` names it too."""
    return request.path.startswith(API_PREFIXES)


_SESSION_OPENED = "keyward_session_opened"


class SessionMiddleware(sessions.SessionMiddleware):
    """Django's, opening the session store only for a request that uses its session.

    Django opens the store for every request (importing its serializer by name, looking up
    its cache), work every API request would pay for; a request by API key or JWT never
    touches it. Until something does, there is nothing to save, no ``Vary: Cookie`` and —
    without a session cookie — no cookie to clear, exactly as Django answers an unused session.
    """

    def process_request(self, request):
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        setattr(request, _SESSION_OPENED, False)

        def open_session():
            setattr(request, _SESSION_OPENED, True)
            return self.SessionStore(session_key)

        request.session = SimpleLazyObject(open_session)

    def process_response(self, request, response):
        unopened = getattr(request, _SESSION_OPENED, True) is False
        if unopened and settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return response
        return super().process_response(request, response)


class MessageMiddleware(messages.MessageMiddleware):
    """Django's, except for an API read: a JSON answer shows no message, so it gets no storage.

    Django builds the storage (a cookie signer, a session reader) on every request. API writes
    keep it: a browser's form post to register, log in or log out is answered with a page's
    redirect and a flash message. An API read that added one would fail loudly
    (``MessageFailure``); none does.
    """

    def process_request(self, request):
        if request.method not in SAFE_METHODS or not is_api(request):
            super().process_request(request)


class CorsMiddleware(cors.CorsMiddleware):
    """django-cors-headers', in the stack only while some origin may be allowed.

    With none allowed it answers no request differently, yet reads every API request's headers
    and adds ``Vary: Origin`` to answers that do not vary by origin. So it takes itself out of
    the stack at start (Django's ``MiddlewareNotUsed``) unless an origin is listed, allowed by
    pattern or by ``CORS_ALLOW_ALL_ORIGINS``, or a receiver of its ``check_request_enabled``
    signal may enable it.
    """

    def __init__(self, get_response):
        if not any_origin_allowed():
            raise MiddlewareNotUsed("no CORS origin is allowed")
        super().__init__(get_response)


def any_origin_allowed() -> bool:
    return bool(
        settings.CORS_ALLOWED_ORIGINS
        or settings.CORS_ALLOWED_ORIGIN_REGEXES
        or settings.CORS_ALLOW_ALL_ORIGINS
        or check_request_enabled.has_listeners()
    )


# SPEC §9: pages load scripts, styles and images from this origin only, and frame nowhere.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# The browsable API and the API docs are DRF's and drf-spectacular's templates,
# which put style attributes and a <style> block in their markup. Their scripts are files all
# the same (the docs through SpectacularSwaggerSplitView): only styles may be inline there.
API_PAGE_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
API_PAGE_PREFIXES = ("/api/",)


class ContentSecurityPolicyMiddleware:
    """Send a Content-Security-Policy with every HTML page that has none of its own.

    Only HTML: a JSON answer runs nothing in a browser, and the API's hot path pays one header
    lookup for it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        headers = response.headers
        # Content-Type first: every response has one, and a lookup that finds its header is
        # cheap, where one that misses raises (and catches) a KeyError inside the mapping.
        if not headers.get("Content-Type", "").startswith("text/html"):
            return response
        if "Content-Security-Policy" not in headers:
            api_page = request.path.startswith(API_PAGE_PREFIXES)
            headers["Content-Security-Policy"] = API_PAGE_POLICY if api_page else PAGE_POLICY
        return response
