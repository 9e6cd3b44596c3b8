"""The authoriser's lane: ``auth/check``, ``keys/verify`` and an API key's token introspection
(``/oauth2/introspect``) answered in front of Django's stack.

A reverse proxy asks ``GET /api/v1/auth/check`` before every request it passes on, so that
answer sets the speed of everything behind it. Through Django it pays for thirteen middleware,
URL resolution and DRF's request wrapping, negotiation and dispatch, most of which decide
nothing for it. ``Lane`` is a WSGI application composed in front of Django's (as WhiteNoise's
``WhiteNoise(application)`` is) that answers those requests with the very functions the DRF
views call — ``identity.credentials`` to read the headers, ``authenticate_key`` (the key, its
one trip to the shared cache that counts and confirms it), the views' own permission and
throttle classes, ``auth_check_headers`` / ``key_verify_answer`` / ``introspection_body`` for
the verdict, the view's ``handle_exception`` for every refusal (so the audit bursts, the IP
bucket's count and the error bodies are the exception handler's) — and then gives the answer
the same treatment Django's stack would: DRF's ``finalize_response`` and rendering, then the
response hooks of the middleware that touch such an answer (X-Frame-Options, Content-Length,
the security headers, CORS, the rate-limit headers), the Prometheus metrics, Django's request
log and its ``request_started`` / ``request_finished`` signals.

It also gives, on any API route, the refusal of a key that was never issued, when the route's
view would refuse it first thing (``refusing_route``): a flood of invented keys is anonymous
traffic, and its cost should not be Django's whole stack per request. Such a refusal keeps a
query string DRF's negotiation would not read (``states_no_preference``).

What it cannot answer identically it never starts on: another method, a query string, a
``SCRIPT_NAME``, a session cookie or a malformed CSRF cookie, an ``Accept`` other than JSON, a
missing or non-key credential (JWT, client token, two credentials), a ``keys/verify`` body
that is not a small JSON object of the known fields, an introspection body that is not a small
url-encoded form the view reads without complaint, or that carries a service client's
credentials, an ``ALLOWED_HOSTS`` miss, a plain-HTTP request that would be
redirected. Those go to Django untouched, before anything is counted. ``KEYWARD_LANE = False``
turns the lane off, and it turns itself off (with a warning) when ``MIDDLEWARE`` is not the
list it was written against, since a new middleware could change the answer, or when a setting
makes Django's stack treat requests specially (``FORCE_SCRIPT_NAME``, ``ATOMIC_REQUESTS``,
``CSRF_USE_SESSIONS``, ``DISALLOWED_USER_AGENTS``, ``PREPEND_WWW``). ``tests/lane/`` runs the
endpoints' requests through both and compares status, headers and body.
"""

import io
import json
import logging
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core import signals
from django.core.exceptions import DisallowedHost, MiddlewareNotUsed
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, CSRF_TOKEN_LENGTH
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, get_urlconf, resolve
from django.utils.cache import patch_vary_headers
from django.utils.log import log_response
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.authentication import (
    ApiKeyAuthentication,
    authenticate_key,
    refuse_never_issued,
    seems_never_issued,
)
from apikeys.serializers import KeyVerifyRequestSerializer
from apikeys.verify_api import (
    AuthCheckView,
    KeyVerifyView,
    auth_check_headers,
    key_verify_answer,
)
from core.middleware import CorsMiddleware
from core.negotiation import states_no_preference
from core.nostore import NO_STORE
from core.views import ApiView
from identity import credentials
from metering.throttles import READING_ATTRIBUTE, write_own_headers
from oauth.introspection_api import IntrospectView, introspection_body, key_verifier
from oauth.protocol import FORM_CONTENT_TYPE, OAuthError, endpoint_request_parse
from ops.middleware import observe

logger = logging.getLogger(__name__)

# The stack whose answers the lane reproduces. Another list may answer differently, so the lane
# stands aside until someone has checked it against the new list (tests/lane/).
MIDDLEWARE_KNOWN = (
    "ops.middleware.MetricsMiddleware",
    "metering.throttles.RateLimitHeadersMiddleware",
    "core.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
    "core.errors.ServiceUnavailableMiddleware",
)

JSON_ACCEPTS = frozenset({None, "*/*", "application/json"})  # an empty Accept is a 406
# keys/verify bodies the lane reads: a few hundred bytes. Anything larger goes to Django,
# which applies DATA_UPLOAD_MAX_MEMORY_SIZE and the rest of its rules.
MAX_BODY = 16 * 1024
# The request fields the lane knows; a body with any other (a field added later) goes to Django.
VERIFY_FIELDS = frozenset({"key", "method", "path", "tenant_id", "ip"})


def _not_used(request):  # the middleware below are asked only for their response hooks
    raise AssertionError("the lane never calls through a middleware")


class Endpoint:
    """One route the lane answers: its path, method, view class and answering function."""

    def __init__(self, path: str, method: str, view_class, answer):
        self.path = path
        self.method = method
        self.view_class = view_class
        self.answer = answer
        self.route = None  # the URL pattern, as the metrics label it; set by ``Lane``


class Lane:
    """WSGI application: the lane's endpoints here, everything else to ``application``."""

    def __init__(self, application, *, enabled: bool | None = None):
        self.application = application
        if enabled is None:
            enabled = getattr(settings, "KEYWARD_LANE", True)
        if enabled and (unknown := _unknown_settings()):
            logger.warning("the WSGI lane is off: %s", unknown)
            enabled = False
        self.endpoints = {}
        if enabled:
            for endpoint in (
                Endpoint("/api/v1/auth/check", "GET", AuthCheckView, _answer_auth_check),
                Endpoint("/api/v1/keys/verify", "POST", KeyVerifyView, _answer_key_verify),
                Endpoint("/oauth2/introspect", "POST", IntrospectView, _answer_introspect),
            ):
                route = _route_of(endpoint)
                if route is not None:
                    endpoint.route = route
                    self.endpoints[endpoint.path] = endpoint
        self._x_frame = XFrameOptionsMiddleware(_not_used)
        self._common = CommonMiddleware(_not_used)
        self._security = SecurityMiddleware(_not_used)
        self._cors = _cors_middleware()

    @property
    def enabled(self) -> bool:
        return bool(self.endpoints)

    def __call__(self, environ, start_response):
        if environ.get("SCRIPT_NAME") or not self.endpoints:
            return self.application(environ, start_response)
        plain = not environ.get("QUERY_STRING") and environ.get("HTTP_ACCEPT") in JSON_ACCEPTS
        path = environ.get("PATH_INFO")
        endpoint = self.endpoints.get(path)
        if plain and endpoint is not None and environ.get("REQUEST_METHOD") == endpoint.method:
            return self._serve(endpoint.route, endpoint.answer, endpoint, environ, start_response)
        # A refusal reads no query string unless DRF's negotiation would (``?format=``, or an
        # Accept it must parse): an added query parameter does not take a flood off the lane.
        if (
            (plain or states_no_preference(environ))
            and environ.get("REQUEST_METHOD") in REFUSED_METHODS
            and _presents_a_key_never_issued(environ)
        ):
            # Looked up only now: a path of a request with a known key is never resolved here.
            route = refusing_route(get_urlconf() or settings.ROOT_URLCONF, path)
            if route is not None:
                return self._serve(route.route, _answer_refusal, route, environ, start_response)
        return self.application(environ, start_response)

    def _serve(self, route, answer, of, environ, start_response):
        """``answer(self, of, request)``'s response, or Django's when it gives none."""
        # As WSGIHandler.__call__ does (SCRIPT_NAME is empty here, so the prefix is "/").
        signals.request_started.send(sender=WSGIHandler, environ=environ)
        as_given = environ["PATH_INFO"], environ["SCRIPT_NAME"]
        request = WSGIRequest(environ)  # which writes both back decoded, into ``environ``
        started = time.perf_counter()
        try:
            response = answer(self, of, request)
        except Exception as exc:
            response = response_for_exception(request, exc)
        if response is None:  # not ours after all: Django answers, from the start
            signals.request_finished.send(sender=WSGIHandler)
            environ["PATH_INFO"], environ["SCRIPT_NAME"] = as_given  # Django decodes them again
            return self.application(environ, start_response)
        self._middleware_hooks(request, response)
        observe(request, response, route, started)
        if response.status_code >= 400:
            log_response(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        response._handler_class = WSGIHandler  # request_finished's sender, as Django sets it
        status = f"{response.status_code} {response.reason_phrase}"
        start_response(status, list(response.items()))
        return response

    def _middleware_hooks(self, request, response) -> None:
        """The response hooks of the stack, innermost first, for a JSON answer of the lane.

        The others add nothing to such an answer: the CSP is for HTML, the session and CSRF
        hooks act only on a session or a CSRF token the lane's requests never have, and the
        messages, auth, ratelimit and 503-page middleware act on requests or exceptions only.
        """
        self._x_frame.process_response(request, response)
        self._common.process_response(request, response)
        self._security.process_response(request, response)
        if self._cors is not None:
            if "HTTP_ORIGIN" in request.META:
                self._cors.add_response_headers(request, response)
            elif self._cors.is_enabled(request):
                # What add_response_headers does without an Origin, minus building the header
                # map to find none (django-cors-headers: Vary on every CORS-enabled answer).
                patch_vary_headers(response, ("origin",))
        reading = getattr(request, READING_ATTRIBUTE, None)
        if reading is not None and reading.policy:
            write_own_headers(response, reading.header_values())


def _unknown_settings() -> str | None:
    """Why the lane cannot promise Django's answer under these settings; ``None`` if it can."""
    if tuple(settings.MIDDLEWARE) != MIDDLEWARE_KNOWN:
        return "MIDDLEWARE differs from the list it knows"
    if settings.FORCE_SCRIPT_NAME is not None:
        return "FORCE_SCRIPT_NAME is set"
    if any(database.get("ATOMIC_REQUESTS") for database in settings.DATABASES.values()):
        return "ATOMIC_REQUESTS: Django wraps each view in a transaction"
    if settings.CSRF_USE_SESSIONS:
        return "CSRF_USE_SESSIONS: the CSRF middleware opens every request's session"
    if settings.DISALLOWED_USER_AGENTS or settings.PREPEND_WWW:
        return "DISALLOWED_USER_AGENTS or PREPEND_WWW: CommonMiddleware may refuse or redirect"
    return None


def _route_of(endpoint: Endpoint) -> str | None:
    """The endpoint's URL pattern, if ``path`` is still served by the view the lane knows."""
    try:
        match = resolve(endpoint.path)
    except Resolver404:
        return None
    if getattr(match.func, "view_class", None) is not endpoint.view_class:
        return None
    return match.route


def _cors_middleware():
    """The stack's CORS middleware, or ``None`` where it took itself out (no origin allowed)."""
    try:
        return CorsMiddleware(_not_used)
    except MiddlewareNotUsed:
        return None


def _may_answer(request) -> bool:
    """What the lane checks before it starts: anything Django would treat specially."""
    cookies = request.COOKIES
    if settings.SESSION_COOKIE_NAME in cookies:
        return False  # the session middleware may answer with a cookie
    csrf_cookie = cookies.get(settings.CSRF_COOKIE_NAME)
    if csrf_cookie is not None and not _well_formed_csrf_cookie(csrf_cookie):
        return False  # the CSRF middleware answers a malformed one with a new cookie
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return False  # the security middleware redirects
    try:
        request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it
    except DisallowedHost:
        return False
    return True


def _well_formed_csrf_cookie(value: str) -> bool:
    """What Django's CSRF middleware accepts as it is (a secret, or an older masked token)."""
    return len(value) in (CSRF_SECRET_LENGTH, CSRF_TOKEN_LENGTH) and _CSRF_CHARS.issuperset(value)


_CSRF_CHARS = frozenset(CSRF_ALLOWED_CHARS)


def _key_to_answer(request) -> str | None:
    """The one API key the request presents, when the lane may answer the request at all;
    ``None`` (Django answers) otherwise."""
    raw_key = _key_in(request.META)
    return raw_key if raw_key is not None and _may_answer(request) else None


def _key_in(meta) -> str | None:
    """The one API key a request's headers (its environ) present, or ``None`` when they present
    anything else."""
    x_api_key, authorization = meta.get("HTTP_X_API_KEY"), meta.get("HTTP_AUTHORIZATION")
    if x_api_key is None and authorization is None:
        return None
    try:
        found = credentials.presented(x_api_key, authorization)
    except credentials.CredentialRefused:
        return None  # a malformed header: DRF's refusal of it is Django's to give
    acting = found.acting
    if acting is None or acting.kind != credentials.API_KEY or found.beside is not None:
        return None
    return acting.value


def _answer_auth_check(lane, endpoint, request):
    raw_key = _key_to_answer(request)
    if raw_key is None:
        return None
    return _dispatch(endpoint, request, raw_key, lambda principal: (None, auth_check_headers))


def _answer_key_verify(lane, endpoint, request):
    raw_key = _key_to_answer(request)
    if raw_key is None:
        return None
    data = _verify_request(request)
    if data is None:
        return None
    return _dispatch(
        endpoint,
        request,
        raw_key,
        lambda principal: (key_verify_answer(principal, data), None),
    )


def _answer_introspect(lane, endpoint, request):
    """Introspection by an API key with ``keys:verify`` (a service client's goes to Django)."""
    raw_key = _key_to_answer(request)
    if raw_key is None:
        return None
    params = _introspection_request(request)
    if params is None:
        return None

    def answer(principal):
        body = introspection_body(key_verifier(principal, request), params, request)
        return body, lambda request, principal: NO_STORE

    return _dispatch(endpoint, request, raw_key, answer)


def _small_body(request, content_type: str) -> bytes | None:
    """The body, when it is of exactly ``content_type`` and at most ``MAX_BODY`` bytes; read so
    that Django can read it again if the lane stands aside. ``None`` for any other."""
    environ = request.META
    if environ.get("CONTENT_TYPE") != content_type:
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 < length <= MAX_BODY:
        return None
    body = request.body
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _introspection_request(request) -> dict | None:
    """The form of an introspection with no client credentials, or ``None`` (and the body
    left for Django): any other body, and any the view would refuse as malformed."""
    if _small_body(request, FORM_CONTENT_TYPE) is None:
        return None
    try:
        params, client_credentials = endpoint_request_parse(request)
    except OAuthError:
        return None  # Django answers it, after authenticating, as the view does
    return params if client_credentials is None else None


def _verify_request(request):
    """The validated ``keys/verify`` body, or ``None`` (and the body left for Django)."""
    body = _small_body(request, "application/json")
    if body is None:
        return None
    if b"\\u" in body:
        return None  # an escape may spell a lone surrogate, which the JSON parser refuses
    try:
        data = json.loads(body.decode("utf-8"))  # UTF-8 only, as the JSON parser decodes it
    except ValueError:
        return None
    if type(data) is not dict or not VERIFY_FIELDS.issuperset(data):
        return None
    if not all(value is None or type(value) is str for value in data.values()):
        return None
    serializer = KeyVerifyRequestSerializer(data=data)
    if not serializer.is_valid():
        return None  # Django answers the 400, after authenticating, as the view does
    return serializer.validated_data


def _view_for(view_class, request, initkwargs=None, args=(), kwargs=None):
    """The view, set up as ``as_view()``'s function and DRF's ``initial`` would set it up for a
    JSON answer (the lane's requests accept nothing else)."""
    view = view_class(**(initkwargs or {}))
    view.setup(request, *args, **(kwargs or {}))
    view.format_kwarg = None
    view.headers = view.default_response_headers
    renderer = view.renderer_classes[0]()
    request.accepted_renderer, request.accepted_media_type = renderer, renderer.media_type
    return view


def _answered(view, request, response):
    response = view.finalize_response(request, response)
    response.render()
    return response


def _dispatch(endpoint, request, raw_key, handler):
    """DRF's ``dispatch`` for this view on a key already read: authenticate, permissions,
    throttles, the handler; every exception through the view's own ``handle_exception``."""
    view = _view_for(endpoint.view_class, request)
    try:
        try:
            principal = authenticate_key(raw_key, request=request)
        except exceptions.APIException:
            request.user, request.auth = AnonymousUser(), None
            raise
        request.user, request.auth = principal.user, principal
        for permission in view.get_permissions():
            if not permission.has_permission(request, view):
                raise exceptions.PermissionDenied(
                    getattr(permission, "message", None), code=getattr(permission, "code", None)
                )
        waits = [
            throttle.wait()
            for throttle in view.get_throttles()
            if not throttle.allow_request(request, view)
        ]
        if waits:
            raise exceptions.Throttled(max((w for w in waits if w is not None), default=None))
        data, headers_of = handler(principal)
        response = Response(data)
        if headers_of is not None:
            for name, value in headers_of(request, principal).items():
                response[name] = value
    except Exception as exc:  # what DRF's dispatch catches, answered by the view
        response = view.handle_exception(exc)
    return _answered(view, request, response)


# --- refusals of keys never issued, on every API route ------------------------------------

# Methods whose refusal is the view's (OPTIONS may be a CORS preflight, HEAD has no body).
REFUSED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
# What a view may not change for the lane to give its refusal: DRF's dispatch up to the
# authentication, and how an exception is answered and rendered.
DISPATCH_STEPS = (
    "dispatch",
    "initialize_request",
    "initial",
    "get_format_suffix",
    "perform_content_negotiation",
    "determine_version",
    "perform_authentication",
    "get_authenticators",
    "get_authenticate_header",
    "handle_exception",
    "get_exception_handler",
    "get_exception_handler_context",
    "finalize_response",
    "get_renderer_context",
    "default_response_headers",
)


@dataclass(frozen=True, slots=True)
class RefusingRoute:
    """A URL whose view refuses a key never issued exactly as the lane would (``route``: its
    pattern, as the metrics label it)."""

    route: str
    view_class: type
    initkwargs: dict
    args: tuple
    kwargs: dict


@lru_cache(maxsize=1024)  # bounded: the paths are the clients' to choose
def refusing_route(urlconf: str, path: str) -> RefusingRoute | None:
    """The route at ``path`` when its view is one of ours that authenticates by API key first,
    with DRF's dispatch, renderers and negotiation as ``ApiView`` has them and no decorator
    around it; ``None`` for any other path (Django answers)."""
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    function = match.func
    view_class = getattr(function, "view_class", None)
    wrapped = getattr(function, "__wrapped__", None)  # DRF's view, inside csrf_exempt
    if view_class is None or not issubclass(view_class, APIView):
        return None
    if not getattr(function, "csrf_exempt", False) or hasattr(wrapped, "__wrapped__"):
        return None  # the CSRF check, or another decorator, could answer first
    authentication = list(getattr(view_class, "authentication_classes", ()))
    if not authentication or authentication[0] is not ApiKeyAuthentication:
        return None
    if any(getattr(view_class, step) is not getattr(ApiView, step) for step in DISPATCH_STEPS):
        return None
    if (
        list(view_class.renderer_classes) != list(ApiView.renderer_classes)
        or view_class.content_negotiation_class is not ApiView.content_negotiation_class
        or view_class.versioning_class is not None
    ):
        return None
    return RefusingRoute(
        match.route,
        view_class,
        dict(getattr(function, "view_initkwargs", {})),
        tuple(match.args),
        dict(match.kwargs),
    )


def _presents_a_key_never_issued(environ) -> bool:
    """Whether the request presents one API key, which seems never issued. Cheap, and counts
    nothing: every request with a key pays it."""
    raw_key = _key_in(environ)
    return raw_key is not None and seems_never_issued(raw_key)


def _answer_refusal(lane, route, request):
    """The view's own refusal of a key never issued (counted as DRF's path counts it), or
    ``None`` (nothing counted) when the key turns out to be possible after all."""
    raw_key = _key_to_answer(request)
    if raw_key is None:
        return None
    view = _view_for(route.view_class, request, route.initkwargs, route.args, route.kwargs)
    try:
        refuse_never_issued(raw_key, request=request)
    except exceptions.APIException as exc:
        request.user, request.auth = AnonymousUser(), None
        return _answered(view, request, view.handle_exception(exc))
    return None
