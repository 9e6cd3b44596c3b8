"""The auth API: register, login, logout, logout-all, refresh, verify (SPEC §2, §9).

Register, login and logout take JSON or form posts. A form post (the seeds' curl examples, a
page's form) gets the browser answer: a 303, or the page again with its errors. JSON gets JSON.
"""

from collections.abc import Mapping

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response

from accounts import views
from accounts.authentication import ACCESS_COOKIE, access_cookie_delete
from accounts.csrf import csrf_enforce_for_cookies
from accounts.ratelimits import register_rate_limit
from accounts.selectors import credential_describe
from accounts.serializers import (
    AuthErrorSerializer,
    LoginResponseSerializer,
    LoginSerializer,
    LogoutAllResponseSerializer,
    LogoutAllSerializer,
    LogoutSerializer,
    RefreshSerializer,
    RegisterResponseSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    UserSerializer,
    VerifyResponseSerializer,
)
from accounts.services import (
    login_attempt_unreadable,
    refresh_token_rotate,
    user_authenticate,
    user_login_tokens,
    user_logout,
    user_logout_all,
    user_register,
)
from apikeys.permissions import HasPrincipal
from core.principal import AuthMethod, principal_of
from core.views import ApiView
from identity import credentials

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# RFC 6749 §5.1: responses that carry tokens must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
ERROR = OpenApiResponse(
    AuthErrorSerializer,
    description=(
        "`{detail, code}` (SPEC §8); 403 `csrf_failed` when a cookie rides without a token, "
        "or when a cookie-less post comes from another site"
    ),
)


FORM_PAGE = OpenApiResponse(
    description="Form post: the page again, with what went wrong (HTML).", response=str
)


def with_form_pages(responses: dict) -> dict:
    """The JSON answers, plus the HTML page a form post gets for each error status."""
    documented = {}
    for status_code, response in responses.items():
        if status_code >= 400:
            documented[(status_code, "application/json")] = response
            documented[(status_code, "text/html")] = FORM_PAGE
        else:
            documented[status_code] = response
    return documented


def is_form_post(request) -> bool:
    return request.content_type.split(";", 1)[0].strip().lower() in FORM_TYPES


def _body_field(request, name: str):
    data = request.data
    return data.get(name) if isinstance(data, Mapping) else None


def _request_body(serializer):
    """Document the JSON body only: the pages' form posts are accepted but left undeclared, so
    a generated client sends JSON and gets tokens, never the pages' redirects (SPEC §11)."""
    return {"application/json": serializer}


class PublicEndpoint(ApiView):
    """An endpoint that needs no credential, for browsers and cookie-less clients alike.

    DRF's CSRF check lives in SessionAuthentication, which these views do not run; the cookie
    rule of SPEC §2 is enforced here instead. A 401 still carries ``WWW-Authenticate`` (DRF
    would turn it into 403 for a view without authenticators).
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    # A form post from a page gets a page back when it fails; refresh serves programs only.
    answers_forms_with_pages = True

    def get_authenticate_header(self, request):
        return views.WWW_AUTHENTICATE

    def perform_authentication(self, request):
        """Authenticate nobody, and so leave Django's ``request.user`` (the session's) intact.

        DRF would overwrite it with AnonymousUser here, and logout must know whose session ends.
        """

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        csrf_enforce_for_cookies(request)

    def handle_exception(self, exc):
        if self.answers_forms_with_pages and is_form_post(self.request):
            page = views.error_page(self.request._request, exc)
            if page is not None:
                return page
        return super().handle_exception(exc)


class RegisterView(PublicEndpoint):
    # Limited per IP and per email by its own rates (SPEC §2), not by the anonymous bucket.
    throttle_classes = []

    @extend_schema(
        summary="Create an account",
        request=_request_body(RegisterSerializer),
        responses=with_form_pages(
            {
                201: RegisterResponseSerializer,
                303: OpenApiResponse(description="Form post: redirect to the login page."),
                400: ERROR,
                403: ERROR,
                429: ERROR,
                503: ERROR,
            }
        ),
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        """Create a user and their personal tenant. Rate-limited per client IP and per email."""
        if is_form_post(request):
            return views.register_submit(request._request)
        register_rate_limit(request, email=_body_field(request, "email"))
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = user_register(
            email=data["email"],
            password=data["password"],
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            request=request._request,
        )
        return Response({"user": UserSerializer(user).data}, status=status.HTTP_201_CREATED)


class LoginView(PublicEndpoint):
    # Limited per IP and per email by its own rates (SPEC §2), not by the anonymous bucket.
    throttle_classes = []

    @extend_schema(
        summary="Log in with email and password",
        request=_request_body(LoginSerializer),
        responses=with_form_pages(
            {
                200: LoginResponseSerializer,
                303: OpenApiResponse(description="Form post: session cookie set, redirect to app."),
                400: ERROR,
                401: ERROR,
                403: ERROR,
                429: ERROR,
                503: ERROR,
            }
        ),
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        """Exchange an email and password for tokens (JSON) or a session (form post).

        Rate-limited per client IP and per email; every attempt counts against both.
        """
        if is_form_post(request):
            return views.login_submit(request._request)
        serializer = LoginSerializer(data=request.data)
        if not serializer.is_valid():
            login_attempt_unreadable(request=request._request, email=_body_field(request, "email"))
            raise serializers.ValidationError(serializer.errors)
        user = user_authenticate(
            request=request._request,
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
            via="json",
        )
        pair = user_login_tokens(user=user)
        body = {**pair.as_response(), "user": UserSerializer(user).data}
        return Response(body, headers=NO_STORE)


class LogoutView(PublicEndpoint):
    @extend_schema(
        summary="Log out",
        request=_request_body(LogoutSerializer),
        responses=with_form_pages(
            {
                204: OpenApiResponse(description="Logged out."),
                303: OpenApiResponse(description="Form post: redirect to the login page."),
                401: ERROR,
                403: ERROR,
                429: ERROR,
            }
        ),
        # No credential is needed; the access token and session presented are the ones ended.
        auth=[{}, {"jwtAuth": []}, {"jwtCookieAuth": []}, {"cookieAuth": []}],
        tags=["auth"],
    )
    def post(self, request):
        """End the login: the session, the refresh token's family, and the access token.

        The access token is the one the call carries (``Authorization: Bearer`` or the
        ``access_token`` cookie); with it, the refresh tokens of its login end too. Each is
        refused on every node before this answers.
        """
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_logout(
            request=request._request,
            refresh_token=serializer.validated_data.get("refresh_token") or None,
            access_token=_bearer_access_token(request),
            cookie_access_token=request.COOKIES.get(ACCESS_COOKIE) or None,
        )
        if is_form_post(request):
            response = views.logged_out_redirect(request._request)
        else:
            response = Response(status=status.HTTP_204_NO_CONTENT)
        access_cookie_delete(response)
        return response


def _bearer_access_token(request) -> str | None:
    """The JWT of an ``Authorization: Bearer`` header; an API key there is no login."""
    value = credentials.bearer_value(request.META.get("HTTP_AUTHORIZATION"))
    return value if value is not None and credentials.looks_like_jwt(value) else None


class IsPersonLogin(BasePermission):
    """Called with a person's own login (session or JWT): not an API key or service client."""

    def has_permission(self, request, view):
        principal = principal_of(request)
        if principal is None:
            return False  # DRF answers 401 authentication_required
        if principal.auth_method not in (AuthMethod.SESSION, AuthMethod.JWT):
            raise exceptions.PermissionDenied(
                "Signing out everywhere needs your own login (session or token), not a key.",
                code="insufficient_permissions",
            )
        return True


class LogoutAllView(ApiView):
    permission_classes = [IsPersonLogin]

    @extend_schema(
        summary="Sign out everywhere",
        request=_request_body(LogoutAllSerializer),
        responses={
            200: LogoutAllResponseSerializer,
            303: OpenApiResponse(description="Form post: redirect to the login page."),
            400: ERROR,
            401: ERROR,
            403: ERROR,
            429: ERROR,
            503: ERROR,
        },
        auth=[{"jwtAuth": []}, {"jwtCookieAuth": []}, {"cookieAuth": []}],  # a key gets 403
        tags=["auth"],
    )
    def post(self, request):
        """End every session, refresh token and access token of yours issued before now.

        With ``keys: true``, also revoke every API key you own. Each is refused on every node
        before this answers. A form post (the dashboard's button) is redirected to the login page.
        """
        serializer = LogoutAllSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        keys_revoked = user_logout_all(
            request=request._request,
            user=request.user,
            revoke_keys=serializer.validated_data["keys"],
        )
        if is_form_post(request):
            response = views.signed_out_everywhere_redirect(request._request)
        else:
            response = Response({"keys_revoked": keys_revoked})
        access_cookie_delete(response)
        return response


class RefreshView(PublicEndpoint):
    answers_forms_with_pages = False  # a JSON endpoint (SPEC §2), whatever the body's encoding

    @extend_schema(
        summary="Rotate a refresh token",
        request=RefreshSerializer,
        responses={200: TokenPairSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 429: ERROR},
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        """New access and refresh tokens; the presented refresh token is spent.

        Reusing a spent refresh token answers 401 ``token_reused`` and revokes every token of
        its login.
        """
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = refresh_token_rotate(
            raw_token=serializer.validated_data["refresh_token"], request=request._request
        )
        return Response(pair.as_response(), headers=NO_STORE)


class VerifyView(ApiView):
    permission_classes = [HasPrincipal]  # any valid credential; a key's allowed_ips still hold

    @extend_schema(
        summary="Describe the presented credential",
        responses={200: VerifyResponseSerializer, 401: ERROR, 403: ERROR},
        tags=["auth"],
    )
    def get(self, request):
        """Who the credential belongs to, its tenant, scopes and expiry."""
        # The body is plain data already (DRF's encoder writes UUIDs and datetimes exactly as
        # the serializer would); building the serializer costs more than the rest of the view.
        return Response(credential_describe(principal=principal_of(request), request=request))
